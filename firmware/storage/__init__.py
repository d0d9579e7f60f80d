"""Everything the controller keeps in its state directory survives full disks and corrupt files here."""
