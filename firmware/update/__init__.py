"""Firmware bundles: the format (`bundle`) and its signatures (`signing`); docs/firmware-signing.md."""
