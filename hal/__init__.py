"""Hardware abstraction layer: typed contracts for every part a charger touches, and their drivers."""
