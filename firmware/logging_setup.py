"""Structured logs on stderr (captured by the journal), levels per component, and redacted OCPP frames.

One line per record, logfmt (`level=INFO logger=firmware.core msg="..." connector=1`) or JSON. Under
systemd ($JOURNAL_STREAM set) each line starts with a syslog priority prefix (`<6>`) so `journalctl -p`
filters by level, and the timestamp is left to the journal.

Components: `[logging.components] ocpp = "WARNING"` sets the level of the loggers `firmware.ocpp` and
`ocpp` (the library); any name works the same way (`core`, `hal`, `websockets`, `pymodbus`, ...).

OCPP frames: the OCPP adapter passes every frame to `log_frame`; it is written (with credentials
redacted by `redact_frame`) only when `[logging] ocpp_frames = true`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from firmware.settings import Settings

FRAME_LOGGER = logging.getLogger("firmware.ocpp.frames")
MASK = "********"

# logging.LogRecord attributes that are not `extra=` fields.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# syslog priorities (RFC 5424) for the journal's level prefix.
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
_SECRET_SUFFIXES = ("password", "passwd", "authorizationkey", "secret", "token", "passphrase", "apikey",
                    "privatekey", "psk")
# Names of OCPP configuration keys / variables whose *value* is a credential (1.6 and 2.0.1).
_SECRET_NAMES = frozenset({"authorizationkey", "basicauthpassword", "networkprofile"})
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/:@\s\"]+):[^/@\s\"]+@", re.I)


def is_secret_key(name: str) -> bool:
    """True for a setting or field whose value is a credential: password, authorization_key, token, ..."""
    norm = name.lower().replace("_", "").replace("-", "")
    return norm != "idtoken" and (norm in _SECRET_NAMES or norm.endswith(_SECRET_SUFFIXES))


def redact(value: Any) -> Any:
    """A copy of a JSON value with every credential replaced by a mask."""
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    # Key/value pairs naming a credential: 1.6 ChangeConfiguration / GetConfiguration ({"key", "value"}),
    # 2.0.1 SetVariables ({"variable": {"name"}, "attributeValue"}).
    named = value.get("key")
    variable = value.get("variable")
    if isinstance(variable, dict):
        named = variable.get("name")
    names_secret = isinstance(named, str) and is_secret_key(named)
    for key, item in value.items():
        if (is_secret_key(key) and not isinstance(item, dict | list)) or \
                (names_secret and key in ("value", "attributeValue")):
            out[key] = MASK
        else:
            out[key] = redact(item)
    return out


def redact_frame(raw: str) -> str:
    """An OCPP-J frame as text with credentials masked; non-JSON text gets URL credentials masked."""
    try:
        frame = json.loads(raw)
    except ValueError:
        return str(redact(raw))
    return json.dumps(redact(frame), separators=(",", ":"), ensure_ascii=False)


def log_frame(direction: Literal["sent", "received"], raw: str, **fields: Any) -> None:
    """Log one OCPP frame if frame logging is on (the check is cheap when it is off)."""
    if FRAME_LOGGER.isEnabledFor(logging.INFO):
        FRAME_LOGGER.info("%s %s", direction, redact_frame(raw), extra={"direction": direction, **fields})


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
        fields.update(_extra_fields(record))
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
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
    env = os.environ if environ is None else environ
    cfg = settings.logging
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _ChargepiHandler)]:
        root.removeHandler(handler)
    handler = _ChargepiHandler(stream or sys.stderr)
    handler.setFormatter(StructuredFormatter(cfg.format, journal=bool(env.get("JOURNAL_STREAM"))))
    root.addHandler(handler)
    root.setLevel(cfg.level or settings.station.log_level)
    for name, level in cfg.components.items():
        logging.getLogger(f"firmware.{name}").setLevel(level)
        logging.getLogger(name).setLevel(level)
    FRAME_LOGGER.setLevel(logging.INFO if cfg.ocpp_frames else logging.WARNING)
