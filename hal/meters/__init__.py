"""Modbus energy meters: register maps as data files, one shared client per bus, the meter part."""
