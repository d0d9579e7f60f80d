"""Smart charging: charging-profile schedules, OCPP 1.6 profile handling, load management, demand response."""
