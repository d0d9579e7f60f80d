"""Local session records: every charging session in SQLite, for operators and `chargepi sessions`."""
