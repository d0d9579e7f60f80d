"""OCPP 1.6J message handlers, configuration keys and meter value building."""
