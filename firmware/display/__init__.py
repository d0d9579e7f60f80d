"""What the driver sees: the display service and its texts (neutral; both OCPP versions feed it)."""
