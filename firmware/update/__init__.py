"""Firmware bundles: the format (`bundle`), its signatures (`signing`) and the unprivileged installer
service that installs them (`installer`, chargepi-update.service); docs/firmware-signing.md."""
