"""The charging core: IEC 61851 state machine, safety interlock and current arbiter. Owns the hardware."""
