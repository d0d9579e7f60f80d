"""Security profile 1 over ws:// (the Basic auth password in clear text) only when the config allows it,
and then a warning at every connect."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from firmware.settings import ConfigError, load_settings
from tests.ocpp.conftest import Harness, eventually
from tests.ocpp.csms import TestCsms

SECTION = (
    '[ocpp]\nurl = "{url}"\ncharge_point_id = "CP"\nsecurity_profile = 1\n'
    'authorization_key = "0123456789abcdef"\n'
)


def test_profile_1_over_ws_is_refused_with_a_message_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(SECTION.format(url="ws://csms.example/ocpp"))
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    problem = [line for line in str(error.value).splitlines() if "clear text" in line]
    assert len(problem) == 1 and "ocpp.allow_insecure_basic_auth = true" in problem[0]
    path.write_text(SECTION.format(url="wss://csms.example/ocpp"))
    assert load_settings(path).ocpp is not None  # the same over TLS is fine
    path.write_text(SECTION.format(url="ws://csms.example/ocpp") + "allow_insecure_basic_auth = true\n")
    assert load_settings(path).ocpp is not None


def test_credentials_in_the_url_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[ocpp]\nurl = "ws://CP:password1@csms.example/ocpp"\ncharge_point_id = "CP"\n')
    with pytest.raises(ConfigError, match="authorization_key"):
        load_settings(path)


async def test_allowed_profile_1_over_ws_warns_at_every_connect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    csms = TestCsms()
    port = await csms.start()
    harness = Harness(tmp_path, csms, port, security_profile=1, authorization_key="0123456789abcdef",
                      allow_insecure_basic_auth=True)
    caplog.set_level(logging.WARNING, logger="firmware.ocpp.common.connection")
    try:
        adapter = await harness.start()
        await csms.kick()
        await eventually(lambda: csms.connections == 2 and adapter._online.is_set(), harness.clock, 0.5)
        warnings = [r.getMessage() for r in caplog.records if "clear text" in r.getMessage()]
        assert len(warnings) == 2 and "allow_insecure_basic_auth" in warnings[0]
        await adapter.stop()
        harness.adapter = None
    finally:
        await csms.stop()
