"""Structured log lines, per-component levels and redaction of credentials in OCPP frames."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.logging_setup import configure_logging
from firmware.redaction import MASK, is_secret_key, redact_frame
from firmware.settings import load_settings

pytestmark = pytest.mark.usefixtures("logging_restored")


def configured(environ: dict[str, str] | None = None, **logging_section: object) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(load_settings(None, logging=logging_section), stream=stream, environ=environ or {})
    return stream


def test_logfmt_lines_carry_level_logger_message_and_extra_fields() -> None:
    stream = configured()
    logging.getLogger("firmware.core.station").warning("contactor %s", "opened", extra={"connector": 1})
    line = stream.getvalue().strip()
    assert line.startswith("ts=")
    assert 'level=WARNING logger=firmware.core.station msg="contactor opened" connector=1' in line


def test_json_lines_under_the_journal_get_a_priority_prefix_and_no_timestamp() -> None:
    stream = configured(environ={"JOURNAL_STREAM": "8:1234"}, format="json")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("firmware.ocpp").exception("lost")
    line = stream.getvalue().splitlines()[0]
    assert line.startswith("<3>{")
    record = json.loads(line[3:])
    assert record["level"] == "ERROR" and record["msg"] == "lost" and "ts" not in record
    assert "RuntimeError: boom" in record["exc"]


def test_levels_per_component() -> None:
    stream = configured(level="DEBUG", components={"ocpp": "WARNING"})
    logging.getLogger("firmware.ocpp.client").info("hidden")
    logging.getLogger("ocpp").info("library chatter hidden")
    logging.getLogger("firmware.ocpp.client").warning("shown")
    logging.getLogger("firmware.core").debug("core debug shown")
    out = stream.getvalue()
    assert "hidden" not in out
    assert "msg=shown" in out and 'msg="core debug shown"' in out


def test_chatty_libraries_are_quiet_unless_asked_for() -> None:
    stream = configured()
    logging.getLogger("transitions.core").info("Finished processing state Available exit callbacks.")
    assert stream.getvalue() == ""
    stream = configured(level="DEBUG", components={"transitions": "DEBUG"})
    logging.getLogger("transitions.core").debug("entering Charging")
    assert "entering Charging" in stream.getvalue()


def test_station_log_level_applies_when_logging_level_is_unset() -> None:
    stream = io.StringIO()
    configure_logging(load_settings(None, station={"log_level": "ERROR"}), stream=stream, environ={})
    logging.getLogger("firmware.core").warning("not shown")
    assert stream.getvalue() == ""


def test_frames_logged_by_anyone_reach_the_log_redacted() -> None:
    frame = '[2,"42","ChangeConfiguration",{"key":"AuthorizationKey","value":"0011223344556677"}]'
    stream = configured(level="DEBUG")
    logging.getLogger("ocpp").info("%s: receive message %s", "CP-1", frame)  # as the ocpp library does
    logging.getLogger("firmware.ocpp.v16").info("%s < %s", "CP-1", frame)
    logging.getLogger("firmware.ocpp").info(f"CP-1 < {frame}")  # text formatted by the caller
    logging.getLogger("firmware.ocpp").info("payload %s", {"authorization_key": "0011223344556677"})
    logging.getLogger("firmware.ocpp").info("connecting to wss://cp1:0011223344556677@csms.example/ocpp")
    out = stream.getvalue()
    assert "0011223344556677" not in out
    assert out.count(MASK) == 5
    assert "CP-1: receive message" in out and "wss://cp1:" in out


@pytest.mark.parametrize(("frame", "secret"), [
    # OCPP 1.6 ChangeConfiguration and a GetConfiguration reply listing the key
    ('[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"s3cr3t-key"}]', "s3cr3t-key"),
    ('[3,"1",{"configurationKey":[{"key":"AuthorizationKey","readonly":false,"value":"s3cr3t-key"}]}]',
     "s3cr3t-key"),
    # OCPP 2.0.1 SetVariables
    ('[2,"1","SetVariables",{"setVariableData":[{"attributeValue":"pa55word","component":'
     '{"name":"SecurityCtrlr"},"variable":{"name":"BasicAuthPassword"}}]}]', "pa55word"),
    # a field named like a credential anywhere, and credentials inside a URL
    ('[2,"1","DataTransfer",{"vendorId":"x","data":{"api_key":"abc123","password":"hunter2"}}]', "hunter2"),
    ('[2,"1","DataTransfer",{"vendorId":"x","data":{"api_key":"abc123"}}]', "abc123"),
    ('[2,"1","DataTransfer",{"vendorId":"x","data":"wss://cp1:topsecret@csms.example/ocpp"}]', "topsecret"),
    ("not json wss://cp1:topsecret@csms.example/ocpp", "topsecret"),
])
def test_redaction_removes_credentials(frame: str, secret: str) -> None:
    redacted = redact_frame(frame)
    assert secret not in redacted
    assert MASK in redacted


def test_redaction_keeps_everything_else() -> None:
    frame = ('[2,"7","StartTransaction",{"connectorId":1,"idTag":"04A1B2C3","meterStart":1200,'
             '"timestamp":"2026-01-05T08:00:00Z"}]')
    assert json.loads(redact_frame(frame)) == json.loads(frame)
    other = '[2,"1","ChangeConfiguration",{"key":"HeartbeatInterval","value":"300"}]'
    assert json.loads(redact_frame(other)) == json.loads(other)


@pytest.mark.parametrize(("name", "secret"), [
    ("password", True), ("authorization_key", True), ("AuthorizationKey", True), ("client_secret", True),
    ("api_token", True), ("BasicAuthPassword", True), ("idTag", False), ("idToken", False),
    ("token_reader", False), ("serial_number", False),
])
def test_secret_key_names(name: str, secret: bool) -> None:
    assert is_secret_key(name) is secret


json_scalars = (st.none() | st.booleans() | st.integers()
                | st.text(st.characters(blacklist_characters=":@"), max_size=8))  # no URL credentials
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(["a", "idTag", "data", "value"]), inner,
                                             max_size=3), max_leaves=12)
SECRET = "S3CR3T-VALUE-9f1c"


@given(payload=json_values, key=st.sampled_from(["password", "authorizationKey", "client_secret",
                                                 "api_token", "BasicAuthPassword"]),
       path=st.lists(st.sampled_from(["data", "value", 0]), max_size=3))
def test_a_secret_anywhere_in_a_frame_is_masked_and_nothing_else_changes(
        payload: object, key: str, path: list[object]) -> None:
    container: dict[str, object] = {"data": payload}
    node: object = {key: SECRET}
    for step in reversed(path):
        node = [node] if step == 0 else {str(step): node}
    container["nested"] = node
    frame = json.dumps([2, "1", "DataTransfer", container])
    redacted = json.loads(redact_frame(frame))
    assert SECRET not in json.dumps(redacted)
    assert redacted[3]["data"] == json.loads(json.dumps(payload))  # the rest is untouched
