"""Credentials are masked at the logging layer for every logger and level, and in diagnostics archives."""

from __future__ import annotations

import base64
import io
import logging
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.frames import Frame, Opcode

from firmware.logging_setup import configure_logging
from firmware.ocpp.common.diagnostics import DiagnosticsUploader
from firmware.redaction import MASK, forget_secrets, redact_text, remember_secret, url_without_credentials
from firmware.settings import load_settings
from hal.clock import SimClock

SECRET = "Tr0ub4dor-and-3"
PEM = (
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIDx0c2VjcmV0LWtleS1tYXRlcmlhbC1zaG91bGQtbm90LWxlYWs\n"
    "AwEHoUQDQgAEabcdefghijklmnopqrstuvwxyz0123456789\n-----END EC PRIVATE KEY-----\n"
)
KEY_MATERIAL = "MHcCAQEEIDx0c2VjcmV0LWtleS1tYXRlcmlhbC1zaG91bGQtbm90LWxlYWs"


pytestmark = pytest.mark.usefixtures("logging_restored")


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    forget_secrets()


def debug_log() -> io.StringIO:
    stream = io.StringIO()
    configure_logging(load_settings(None, logging={"level": "DEBUG"}), stream=stream, environ={})
    return stream


def test_websockets_handshake_headers_are_masked_at_debug() -> None:
    stream = debug_log()
    token = base64.b64encode(f"CP1:{SECRET}".encode()).decode()
    log = logging.getLogger("websockets.client")
    log.debug("> %s: %s", "Authorization", f"Basic {token}")  # as websockets logs each request header
    log.debug("> %s: %s", "Proxy-Authorization", "Bearer abc.def.ghi")
    out = stream.getvalue()
    assert token not in out and "abc.def.ghi" not in out
    assert f"Authorization: Basic {MASK}" in out


def test_a_long_frame_cut_in_the_middle_by_websockets_is_masked_before_it_is_cut() -> None:
    stream = debug_log()
    payload = ('[2,"c65e6ff3-abff-4245-904b-08bcabf6841d","ChangeConfiguration",'
               f'{{"key":"AuthorizationKey","value":"{SECRET}"}}]')
    frame = Frame(Opcode.TEXT, payload.encode())
    assert "AuthorizationKey" not in str(frame) and SECRET[-8:] in str(frame)  # what websockets would log
    logging.getLogger("websockets.client").debug("< %s", frame)
    out = stream.getvalue()
    assert SECRET[-8:] not in out and "< TEXT" in out


def test_private_keys_and_credentials_in_any_logger_message_or_traceback_are_masked() -> None:
    stream = debug_log()
    other = logging.getLogger("someone.else")
    other.debug("loaded key %s", PEM)
    other.info("settings %r", {"authorization_key": SECRET, "url": "wss://csms"})
    other.info("pydantic says authorization_key='%s' password=%s", SECRET, SECRET)
    try:
        raise ValueError(f"cannot log in to ftp://cp:{SECRET}@host/ with {PEM}")
    except ValueError:
        other.exception("upload failed")
    out = stream.getvalue()
    assert SECRET not in out and KEY_MATERIAL not in out
    assert "-----BEGIN EC PRIVATE KEY-----" in out  # what it was is still visible
    assert "ValueError: cannot log in to ftp://cp:" in out


def test_structured_fields_are_masked_by_name_and_content() -> None:
    stream = debug_log()
    logging.getLogger("firmware.audit").info("config changed", extra={
        "password": SECRET, "detail": f"wss://cp:{SECRET}@csms/ocpp", "key": "HeartbeatInterval"})
    out = stream.getvalue()
    assert SECRET not in out and "key=HeartbeatInterval" in out


def test_a_registered_credential_is_masked_wherever_it_appears() -> None:
    remember_secret(SECRET, user="CP1")
    stream = debug_log()
    logging.getLogger("pymodbus").debug("odd place for it: %s", SECRET.encode().hex() + " " + SECRET)
    token = base64.b64encode(f"CP1:{SECRET}".encode()).decode()
    logging.getLogger("someone.else").warning("raw token %s", token)
    out = stream.getvalue()
    assert SECRET not in out and token not in out


def test_the_ordinary_text_is_left_alone() -> None:
    text = ('StartTransaction {"idTag":"04A1B2C3","meterStart":12} idToken=ABC parentIdTag=P '
            "LocalAuthorizationList ok; Authorize accepted")
    assert redact_text(text) == text


async def test_diagnostics_archives_mask_credentials_others_wrote_into_log_files(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "old.log").write_text(
        '2026-01-05T07:00:00Z cp > [2,"1","ChangeConfiguration",'
        f'{{"key":"AuthorizationKey","value":"{SECRET}"}}]\n'
        f"2026-01-05T07:00:01Z > Authorization: Basic {base64.b64encode(SECRET.encode()).decode()}\n"
        f"{PEM}")

    async def notify(status: str) -> None:
        pass

    uploader = DiagnosticsUploader(SimClock(), tmp_path / "state", [logs],
                                   lambda: {"url": f"ftp://u:{SECRET}@x/"}, notify)
    archive = await uploader.collect()
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            content = extracted.read().decode() if extracted else ""
            assert SECRET not in content and KEY_MATERIAL not in content, member.name
            assert base64.b64encode(SECRET.encode()).decode() not in content


def test_status_url_hides_credentials() -> None:
    assert (url_without_credentials("wss://cp:secret@csms.example.com:8443/ocpp/CP")
            == "wss://csms.example.com:8443/ocpp/CP")
    assert url_without_credentials("ws://h/ocpp/CP") == "ws://h/ocpp/CP"
