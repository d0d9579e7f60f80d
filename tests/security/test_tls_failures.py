"""What a failed TLS handshake with the CSMS means, against a real TLS server (`openssl s_server`, which
sends the alerts a real web server sends) offering only what the security whitepaper forbids."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from firmware.ocpp.common.link_security import classify_failure
from firmware.security.events import SecurityEventType
from tests.security.pki import make_ca, write_pair


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def s_server(tmp_path: Path) -> Iterator[tuple[list[str], str]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    ca = make_ca()
    cert, key = ca.issue("127.0.0.1", ip="127.0.0.1")
    cert_file, key_file = write_pair(tmp_path, "server", cert, key)
    args = ["openssl", "s_server", "-quiet", "-cert", str(cert_file), "-key", str(key_file)]
    yield args, ca.pem


async def _handshake(args: list[str], ca_pem: str, *extra: str) -> BaseException:
    port = _free_port()
    quiet = subprocess.DEVNULL
    proc = await asyncio.create_subprocess_exec(*args, "-accept", str(port), *extra, stdout=quiet,
                                                stderr=quiet)
    try:
        for _ in range(100):  # until it listens
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        context = ssl.create_default_context(cadata=ca_pem)
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # what the link security sets
        try:
            async with connect(f"wss://127.0.0.1:{port}/", ssl=context, open_timeout=5):
                pass
        except Exception as exc:
            return exc
        raise AssertionError("the handshake should have failed")
    finally:
        proc.kill()
        await proc.wait()


async def test_a_server_offering_only_tls_1_1_is_an_invalid_tls_version(
    s_server: tuple[list[str], str],
) -> None:
    args, ca = s_server
    failure = await _handshake(args, ca, "-tls1_1", "-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0")
    event = classify_failure(failure)
    assert event is not None and event[0] == SecurityEventType.INVALID_TLS_VERSION


async def test_a_server_offering_only_forbidden_ciphers_is_an_invalid_cipher_suite(
    s_server: tuple[list[str], str],
) -> None:
    args, ca = s_server
    # TLS 1.2 with a SHA-1 CBC suite only: not among the suites the whitepaper (and Python's default) allow.
    failure = await _handshake(args, ca, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA")
    event = classify_failure(failure)
    assert event is not None and event[0] == SecurityEventType.INVALID_TLS_CIPHER_SUITE
