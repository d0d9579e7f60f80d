"""Protocol-neutral security machinery: the certificate store and the security event log.

Nothing here speaks OCPP: the OCPP 1.6 security extensions (firmware/ocpp/v16/security.py), the firmware
verification and a future OCPP 2.0.1 layer all use these modules. See docs/security.md.
"""
