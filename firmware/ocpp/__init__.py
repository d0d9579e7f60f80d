"""OCPP 1.6J charge-point layer: connection, message handlers, durable outbox, firmware and diagnostics."""
