"""Test PKI: a private CA and a server certificate for 127.0.0.1, made with the openssl CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest


class TestPki(NamedTuple):
    ca: Path
    cert: Path
    key: Path


def make_test_pki(directory: Path, subject_alt_name: str = "IP:127.0.0.1") -> TestPki:
    """Write ca.pem, server.pem and server.key into `directory`; skip the test without openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed: cannot make test certificates")
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=chargepi test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    (directory / "ext.cnf").write_text(f"subjectAltName={subject_alt_name}\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    return TestPki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
