"""Signed metering: the signing meters\x27 snapshots at session begin and end, kept with the session."""
