"""Structured logs on stderr (captured by the journal), levels per component, and redacted OCPP frames.

One line per record, logfmt (`level=INFO logger=firmware.core msg="..." connector=1`) or JSON. Under
systemd ($JOURNAL_STREAM set) each line starts with a syslog priority prefix (`<6>`) so `journalctl -p`
filters by level, and the timestamp is left to the journal.

Components: `[logging.components] ocpp = "WARNING"` sets the level of the loggers `firmware.ocpp` and
`ocpp` (the library); any name works the same way (`core`, `hal`, `websockets`, `pymodbus`, ...).

Credentials never reach the journal, at any level: every log record of every logger (ours, websockets,
ocpp, ...) is masked as it is made (`firmware.redaction`: Authorization headers, AuthorizationKey /
BasicAuthPassword values in OCPP frames, passwords in URLs, private keys, every registered credential).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO

from firmware.redaction import RedactingFilter, install_log_redaction, redact_fields

if TYPE_CHECKING:  # the safety supervisor configures its logging without the settings models
    from firmware.settings import Settings

# Libraries that narrate every step at INFO; a `[logging.components]` entry overrides this. pymodbus logs
# every bad or missing frame at ERROR with a hex dump (a loose RS-485 wire is thousands of lines an hour);
# the meter driver turns those into MeterError and the core logs one "meter offline" line per outage.
QUIET_LIBRARIES = {"transitions": "WARNING", "pymodbus": "CRITICAL"}

# logging.LogRecord attributes that are not `extra=` fields.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# syslog priorities (RFC 5424) for the journal's level prefix.
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


def _logfmt_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and not any(c in text for c in ' ="\\\n\t'):
        return text
    return json.dumps(text, ensure_ascii=False)


class StructuredFormatter(logging.Formatter):
    def __init__(self, style: Literal["logfmt", "json"], journal: bool) -> None:
        super().__init__()
        self.style = style
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {}
        if not self.journal:
            fields["ts"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        fields["level"] = record.levelname
        fields["logger"] = record.name
        fields["msg"] = record.getMessage()
        fields.update(redact_fields(_extra_fields(record)))
        if record.exc_info or record.exc_text:
            # exc_text was masked when the record was made (firmware.redaction)
            fields["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        if self.style == "json":
            line = json.dumps(fields, default=str, ensure_ascii=False)
        else:
            line = " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())
        if self.journal:
            line = f"<{_PRIORITY.get(record.levelno, 6)}>{line}"
        return line


class _ChargepiHandler(logging.StreamHandler[TextIO]):
    """Marks the handler we installed so a second configure_logging replaces it."""


def configure_logging(settings: Settings, stream: TextIO | None = None,
                      environ: Mapping[str, str] | None = None) -> None:
    """Install the structured handler on the root logger and set the levels from the settings."""
    cfg = settings.logging
    configure(cfg.level or settings.station.log_level, cfg.format, cfg.components, stream, environ)


def configure(level: str, style: Literal["logfmt", "json"], components: Mapping[str, str],
              stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> None:
    """configure_logging from the values themselves (the safety supervisor's, firmware.safety.spec)."""
    env = os.environ if environ is None else environ
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _ChargepiHandler)]:
        root.removeHandler(handler)
    handler = _ChargepiHandler(stream or sys.stderr)
    install_log_redaction()
    handler.addFilter(RedactingFilter())  # also for records made before the factory was installed
    handler.setFormatter(StructuredFormatter(style, journal=bool(env.get("JOURNAL_STREAM"))))
    root.addHandler(handler)
    root.setLevel(level)
    for name, component_level in {**QUIET_LIBRARIES, **components}.items():
        logging.getLogger(f"firmware.{name}").setLevel(component_level)
        logging.getLogger(name).setLevel(component_level)
