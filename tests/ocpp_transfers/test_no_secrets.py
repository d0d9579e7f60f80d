"""No secret in any log or upload: the real `chargepi run` process at DEBUG, with every OCPP frame logged,
logs in with HTTP Basic over TLS, gets a new AuthorizationKey from the CSMS, logs in again with it, and
uploads a GetDiagnostics archive that holds its own log. Neither password (nor its Basic header) appears in
the process's stderr (the journal) or anywhere in the uploaded archive."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import ssl
import subprocess
import sys
import tarfile
from pathlib import Path

from ocpp.v16 import call

from tests.certificates import make_test_pki
from tests.ocpp.csms import TestCsms
from tests.ocpp_transfers.conftest import HttpFiles
from tests.ocpp_transfers.waiting import eventually

CP_ID = "CP-SECRET"
OLD_KEY = "OldSecretPassword-0001"
NEW_KEY = "NewSecretPassword-0002"


def basic(password: str) -> str:
    return base64.b64encode(f"{CP_ID}:{password}".encode()).decode()


def secrets() -> list[str]:
    return [OLD_KEY, NEW_KEY, basic(OLD_KEY), basic(NEW_KEY)]


async def test_no_secret_reaches_the_journal_or_the_diagnostics_upload(
    tmp_path: Path, http_files: HttpFiles
) -> None:
    pki = make_test_pki(tmp_path / "pki")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki.cert, pki.key)
    accepted = {f"Basic {basic(OLD_KEY)}", f"Basic {basic(NEW_KEY)}"}
    csms = TestCsms(check_auth=lambda header: header in accepted)
    port = await csms.start(ssl=tls)
    journal = tmp_path / "journal.log"
    config = tmp_path / "chargepi.toml"
    config.write_text(
        f'[station]\nstate_dir = "{tmp_path / "state"}"\nlog_level = "DEBUG"\n'
        "[logging]\nlevel = \"DEBUG\"\ncomponents = { websockets = \"DEBUG\", ocpp = \"DEBUG\" }\n"
        f'[ocpp]\nurl = "wss://127.0.0.1:{port}/ocpp"\ncharge_point_id = "{CP_ID}"\n'
        f'security_profile = 2\nauthorization_key = "{OLD_KEY}"\nca_file = "{pki.ca}"\n'
        "log_frames = true\nping_interval_s = 0\nreconnect_min_s = 0.2\nreconnect_max_s = 1.0\n"
        f'[ocpp.diagnostics]\nlog_paths = ["{journal}"]\njournal_units = []\n'
    )
    env = {**os.environ, "PYTHONASYNCIODEBUG": "1"}  # asyncio's own DEBUG chatter too
    with journal.open("w") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "firmware.cli.main", "run", "--config", str(config),
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
        try:
            await eventually(lambda: csms.cp is not None and "BootNotification" in csms.actions(), within=30)
            assert csms.cp is not None
            change = await csms.cp.call(
                call.ChangeConfiguration(key="AuthorizationKey", value=NEW_KEY), suppress=False
            )
            assert change.status == "Accepted"
            await eventually(lambda: f"Basic {basic(NEW_KEY)}" in csms.auth_headers and csms.cp is not None,
                             within=30)
            await asyncio.sleep(0.5)
            assert csms.cp is not None
            conf = await csms.cp.call(call.GetConfiguration(), suppress=False)
            assert conf.configuration_key  # the charger answered (AuthorizationKey itself is write-only)
            answer = await csms.cp.call(
                call.GetDiagnostics(location=http_files.url("/diag/")), suppress=False
            )
            assert answer.file_name
            await eventually(lambda: http_files.uploads != [], within=30)
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
            await csms.stop()
    log = journal.read_text()
    assert "Authorization" in log and "AuthorizationKey" in log  # the lines are there, masked
    for secret in secrets():
        assert secret not in log, f"{secret} in the journal"
    _, _, _, body = http_files.uploads[0]
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        names = tar.getnames()
        assert any(name.endswith("journal.log") for name in names)
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            content = extracted.read().decode("utf-8", "replace") if extracted else ""
            for secret in secrets():
                assert secret not in content, f"{secret} in {member.name} of the diagnostics upload"
