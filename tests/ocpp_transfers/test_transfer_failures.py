"""What kind of failure a transfer reports (OCPP's UploadLogStatus tells PermissionDenied,
NotSupportedOperation and BadMessage apart from UploadFailure), against real servers on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from firmware.ocpp.common.transfer import Failure, TransferError, upload
from tests.ocpp_transfers.conftest import FtpFiles, HttpFiles


def _file(tmp_path: Path) -> Path:
    source = tmp_path / "log.gz"
    source.write_bytes(b"x" * 100)
    return source


@pytest.mark.parametrize(("status", "failure"), [(401, Failure.PERMISSION_DENIED),
                                                 (403, Failure.PERMISSION_DENIED),
                                                 (405, Failure.NOT_SUPPORTED), (501, Failure.NOT_SUPPORTED),
                                                 (503, Failure.OTHER), (500, Failure.OTHER)])
def test_http_refusals(tmp_path: Path, http_files: HttpFiles, status: int, failure: Failure) -> None:
    http_files.fail_next, http_files.fail_status = 1, status
    with pytest.raises(TransferError) as refused:
        upload(http_files.url("/up/"), _file(tmp_path), 5.0)
    assert refused.value.failure is failure


def test_ftp_login_refused_is_permission_denied(tmp_path: Path, ftp_files: FtpFiles) -> None:
    with pytest.raises(TransferError) as refused:
        upload(ftp_files.url("/", password="wrong"), _file(tmp_path), 5.0)
    assert refused.value.failure is Failure.PERMISSION_DENIED


def test_a_reply_that_is_not_http_is_a_bad_message(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer() -> None:
        peer, _ = server.accept()
        peer.recv(65536)
        peer.sendall(b"SSH-2.0-OpenSSH\r\n")
        peer.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    with pytest.raises(TransferError) as refused:
        upload(f"http://127.0.0.1:{server.getsockname()[1]}/up/", _file(tmp_path), 5.0)
    thread.join()
    server.close()
    assert refused.value.failure is Failure.BAD_MESSAGE
