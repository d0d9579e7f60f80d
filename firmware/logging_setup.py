"""Structured logs on stderr (captured by the journal), levels per component, and redacted OCPP frames.

One line per record, logfmt (`level=INFO logger=firmware.core msg="..." connector=1`) or JSON. Under
systemd ($JOURNAL_STREAM set) each line starts with a syslog priority prefix (`<6>`) so `journalctl -p`
filters by level, and the timestamp is left to the journal.

Components: `[logging.components] ocpp = "WARNING"` sets the level of the loggers `firmware.ocpp` and
`ocpp` (the library); any name works the same way (`core`, `hal`, `websockets`, `pymodbus`, ...).

OCPP frames (logged when `[ocpp] log_frames = true`, by the adapter and the `ocpp` library): whoever
logs them, the handler passes every argument that looks like a JSON frame through `redact_frame`, so
credentials (AuthorizationKey, passwords, user:password in URLs) never reach the journal.
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

MASK = "********"
# Libraries that narrate every step at INFO; a `[logging.components]` entry overrides this.
QUIET_LIBRARIES = {"transitions": "WARNING"}

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


def _looks_like_frame(value: object) -> bool:
    return isinstance(value, str) and value[:1] in ("[", "{")


class RedactFrames(logging.Filter):
    """Masks credentials in log records that carry OCPP frames (or any JSON) as arguments or message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = redact(record.args)
        elif isinstance(record.msg, str) and any(c in record.msg for c in "[{@"):
            record.msg = _redact_text(record.msg)
        return True


def _redact_arg(value: object) -> object:
    if isinstance(value, dict | list):
        return redact(value)
    if isinstance(value, str) and (_looks_like_frame(value) or "@" in value):
        return redact_frame(value)
    return value


def _redact_text(text: str) -> str:
    """Credentials in free text: URL user:password, and a JSON frame after a prefix ("cp1 > [2,...]")."""
    start = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    if start >= 0:
        try:
            json.loads(text[start:])
        except ValueError:
            pass
        else:
            return text[:start] + redact_frame(text[start:])
    return str(redact(text))


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
    handler.addFilter(RedactFrames())
    handler.setFormatter(StructuredFormatter(cfg.format, journal=bool(env.get("JOURNAL_STREAM"))))
    root.addHandler(handler)
    root.setLevel(cfg.level or settings.station.log_level)
    for name, level in {**QUIET_LIBRARIES, **cfg.components}.items():
        logging.getLogger(f"firmware.{name}").setLevel(level)
        logging.getLogger(name).setLevel(level)
