"""Masking credentials in anything that is logged or uploaded: JSON values, OCPP frames and free text.

Three layers, each enough on its own for what it knows:
* structure: in JSON (an OCPP frame, a dict), a value whose field name says credential (password,
  authorization_key, secret, token, private_key, ...) or whose `key`/`variable.name` names a credential
  configuration key (AuthorizationKey, BasicAuthPassword, NetworkProfile) is masked;
* patterns: in text (a formatted log line, a truncated frame, a traceback, a log file), HTTP
  `Authorization:` header values, `Basic <base64>` tokens, URL `user:password@`, PEM private key blocks,
  `name=value` / `"name": "value"` pairs with a credential name, and flat JSON objects naming a credential
  key (also when cut off by a truncating logger);
* known values: every credential the firmware holds is registered (`remember_secret`) and any occurrence of
  it, or of an HTTP Basic token made from it, is masked wherever it turns up.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
import sys
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "********"
_SECRET_SUFFIXES = ("password", "passwd", "authorizationkey", "secret", "token", "passphrase", "apikey",
                    "privatekey", "psk")
_NOT_SECRET = frozenset({"idtoken", "idtag", "parentidtag"})
# Names of OCPP configuration keys / variables whose *value* is a credential (1.6 and 2.0.1).
SECRET_CONFIGURATION_KEYS = frozenset({"authorizationkey", "basicauthpassword", "networkprofile"})
_MIN_KNOWN_SECRET = 6  # shorter values would mask ordinary words

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/:@\s\"']+):[^/@\s\"']+@", re.I)
_AUTH_HEADER = re.compile(
    r"(?P<head>\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<scheme>(?:basic|bearer|digest)\s+)?(?P<value>[^\s\"',;]+)", re.I)
_BASIC_TOKEN = re.compile(r"\b(?P<scheme>basic|bearer)\s+(?P<value>[A-Za-z0-9+/._~-]{6,}={0,2})", re.I)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END (?P=kind)PRIVATE KEY-----|\Z)", re.S)
_SECRET_NAME = (r"[A-Za-z0-9_\-]*(?:password|passwd|authorization_?key|secret|token|passphrase|api_?key|"
                r"private_?key|psk)")
# "name": "value" / 'name': 'value' / name='value' (JSON, Python reprs); the value may be cut off.
_QUOTED_PAIR = re.compile(
    r"(?P<head>(?P<q1>[\"']?)(?<![A-Za-z0-9_\-])(?P<name>" + _SECRET_NAME + r")(?P=q1)\s*[:=]\s*)"
    r"(?P<q2>[\"'])"
    r"(?P<value>(?:\\.|(?!(?P=q2)).)*)(?P<end>(?P=q2)|$)", re.I | re.M)
# name=value without quotes (logfmt, URL query strings, command lines)
_BARE_PAIR = re.compile(r"(?P<head>(?<![A-Za-z0-9_\-])(?P<name>" + _SECRET_NAME + r")=)"
                        r"(?P<value>[^\s\"'&,;]+)", re.I)
# A flat JSON (or Python repr) object, possibly cut off at the end of the text.
_FLAT_OBJECT = re.compile(r"\{[^{}\n]*(?:\}|$)", re.M)
_NAMES_SECRET_KEY = re.compile(r"[\"'](?:key|name)[\"']\s*:\s*[\"'](?P<name>[A-Za-z]+)[\"']")
_VALUE_FIELD = re.compile(
    r"(?P<head>[\"'](?:value|attributeValue)[\"']\s*:\s*)(?P<q>[\"'])(?:\\.|(?!(?P=q)).)*(?:(?P=q)|$)", re.M)

_known: set[str] = set()
_known_lock = threading.Lock()
_known_pattern: re.Pattern[str] | None = None


def is_secret_key(name: str) -> bool:
    """True for a setting or field whose value is a credential: password, authorization_key, token, ..."""
    norm = name.lower().replace("_", "").replace("-", "")
    return norm not in _NOT_SECRET and (norm in SECRET_CONFIGURATION_KEYS or norm.endswith(_SECRET_SUFFIXES))


def remember_secret(value: str | None, user: str | None = None) -> None:
    """Register a credential the firmware holds: from now on every occurrence of it is masked in text,
    and so is the HTTP Basic token `user:value` (and `user:` with any registered user) encodes to."""
    if not value or len(value) < _MIN_KNOWN_SECRET:
        return
    forms = {value}
    if user:
        forms.add(base64.b64encode(f"{user}:{value}".encode()).decode())
    global _known_pattern
    with _known_lock:
        if forms <= _known:
            return
        _known.update(forms)
        ordered = sorted(_known, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def forget_secrets() -> None:
    """Drop every registered credential (tests)."""
    global _known_pattern
    with _known_lock:
        _known.clear()
        _known_pattern = None


def redact(value: Any) -> Any:
    """A copy of a JSON value with every credential replaced by a mask."""
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
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
        if (isinstance(key, str) and is_secret_key(key) and not isinstance(item, dict | list)) or \
                (names_secret and key in ("value", "attributeValue")):
            out[key] = MASK
        else:
            out[key] = redact(item)
    return out


def redact_frame(raw: str) -> str:
    """An OCPP-J frame as text with credentials masked; text that is not JSON is masked as text."""
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):
        return redact_text(raw)
    return json.dumps(redact(frame), separators=(",", ":"), ensure_ascii=False)


def _mask_object(match: re.Match[str]) -> str:
    text = match.group(0)
    named = _NAMES_SECRET_KEY.search(text)
    if named is None or named.group("name").lower() not in SECRET_CONFIGURATION_KEYS:
        return text
    return _VALUE_FIELD.sub(lambda m: f"{m['head']}{m['q']}{MASK}{m['q']}", text)


def redact_text(text: str) -> str:
    """Free text with every credential masked (see the module docstring for what is recognised)."""
    if not text:
        return text
    known = _known_pattern
    if known is not None:
        text = known.sub(MASK, text)
    text = _PRIVATE_KEY.sub(lambda m: f"-----BEGIN {m['kind']}PRIVATE KEY-----{MASK}-----END "
                                      f"{m['kind']}PRIVATE KEY-----", text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['head']}{m['scheme'] or ''}{MASK}", text)
    text = _BASIC_TOKEN.sub(lambda m: f"{m['scheme']} {MASK}", text)
    if "{" in text:
        text = _FLAT_OBJECT.sub(_mask_object, text)
    text = _QUOTED_PAIR.sub(_mask_pair, text)
    return _BARE_PAIR.sub(lambda m: m["head"] + MASK if _secret_name(m["name"]) else m.group(0), text)


def _secret_name(name: str) -> bool:
    return is_secret_key(name)


def _mask_pair(match: re.Match[str]) -> str:
    if not _secret_name(match["name"]):
        return match.group(0)
    return f"{match['head']}{match['q2']}{MASK}{match['end']}"


# ---- the logging layer ----------------------------------------------------------------------------
_EXCEPTION_FORMATTER = logging.Formatter()


def _redact_arg(value: object) -> object:
    # websockets is not imported here: without it loaded no frame can be logged (and the supervisor and a
    # charger without [ocpp] do not load it at all).
    frames = sys.modules.get("websockets.frames")
    if frames is not None and isinstance(value, frames.Frame):
        # websockets logs frames at DEBUG and cuts long ones in the middle (which can cut off the name
        # of the key whose value is a password): mask the whole payload first, then let it shorten.
        try:
            text = bytes(value.data).decode()
        except UnicodeDecodeError:
            return value
        return dataclasses.replace(value, data=redact_frame(text).encode())
    if isinstance(value, dict | list):
        return redact(value)
    return value


def redact_record(record: logging.LogRecord) -> None:
    """Mask credentials in a log record in place: its message (formatted now, arguments included), its
    exception and stack text. Done once per record."""
    if getattr(record, "_redacted", False):
        return
    record._redacted = True
    try:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = redact(record.args)
        message = record.getMessage()
    except Exception:  # a broken format string: the handler reports it as usual
        return
    record.msg, record.args = redact_text(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = _EXCEPTION_FORMATTER.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)


def redact_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Structured log fields (`extra=`) with credentials masked, by field name and by content."""
    return {key: MASK if is_secret_key(key) and isinstance(value, str | int) and value != ""
            else redact(value) for key, value in fields.items()}


class RedactingFilter(logging.Filter):
    """For handlers: masks credentials in every record that passes (see `redact_record`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_factory_lock = threading.Lock()


def install_log_redaction() -> None:
    """Mask credentials in every log record of every logger (ours and third-party ones such as
    websockets, ocpp, pymodbus) as the record is made, so that no handler or formatter, ours or anyone
    else's, ever sees the clear text. Idempotent."""
    with _factory_lock:
        current = logging.getLogRecordFactory()
        if getattr(current, "redacting", False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            redact_record(record)
            return record

        factory.redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)


def url_without_credentials(url: str) -> str:
    """`url` without a user name and password in it (for status output and logs)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
