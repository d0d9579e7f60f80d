"""Packaged meter register maps (TOML data files, one per meter family)."""
