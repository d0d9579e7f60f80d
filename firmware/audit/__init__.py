"""The audit trail: one INFO line per meaningful event, kept in a rolling store for `chargepi events`."""
