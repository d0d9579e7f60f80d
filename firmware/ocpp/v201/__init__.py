"""OCPP 2.0.1 for the charger: translates between 2.0.1 messages and the charger's own (neutral) terms.

Never imports `firmware/ocpp/v16`; facts from the specification are cited from docs/reference/ocpp201.md.
"""
