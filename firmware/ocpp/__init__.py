"""OCPP back-end connection: settings, websocket link, persistent outbox, local authorization, adapter."""
