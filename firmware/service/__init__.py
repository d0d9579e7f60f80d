"""Running as a system service: the systemd notify/watchdog protocol."""
