"""chargepi firmware: the charging core, protocol adapters, control interface and CLI."""

__version__ = "0.1.0"
