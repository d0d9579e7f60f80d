"""gpiozero drivers for relays, inputs, the RCM, the socket lock and the status LED."""
