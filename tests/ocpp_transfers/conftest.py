"""Real file servers on 127.0.0.1 for firmware download and diagnostics upload tests: HTTP and FTP."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

from tests.certificates import make_test_pki


@dataclass
class HttpFiles:
    """What the test HTTP server serves and what it was sent."""

    scheme: str = "http"
    port: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    uploads: list[tuple[str, str, dict[str, str], bytes]] = field(
        default_factory=list
    )  # method, path, headers, body
    fail_next: int = 0  # answer this many requests with `fail_status` first
    fail_status: int = 503
    requests: int = 0

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"


def _handler(state: HttpFiles) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _failing(self) -> bool:
            state.requests += 1
            if state.fail_next > 0:
                state.fail_next -= 1
                self.send_error(state.fail_status, "refused")
                return True
            return False

        def do_GET(self) -> None:
            if self._failing():
                return
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _store(self) -> None:
            if self._failing():
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.uploads.append((self.command, self.path, dict(self.headers), body))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = _store
        do_POST = _store

    return Handler


def _serve_http(tls: ssl.SSLContext | None) -> Iterator[HttpFiles]:
    state = HttpFiles(scheme="https" if tls else "http")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def http_files() -> Iterator[HttpFiles]:
    yield from _serve_http(None)


@pytest.fixture
def https_files(tmp_path: Path) -> Iterator[tuple[HttpFiles, Path]]:
    """An HTTPS file server with a certificate from a private CA, and that CA's PEM file."""
    pki = make_test_pki(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert, pki.key)
    for files in _serve_http(context):
        yield files, pki.ca


@dataclass
class FtpFiles:
    port: int
    root: Path
    user: str = "cp"
    password: str = "s3cret"

    def url(self, path: str, password: str | None = None) -> str:
        return f"ftp://{self.user}:{password or self.password}@127.0.0.1:{self.port}{path}"


@pytest.fixture
def ftp_files(tmp_path: Path) -> Iterator[FtpFiles]:
    root = tmp_path / "ftp-root"
    root.mkdir()
    authorizer = DummyAuthorizer()
    files = FtpFiles(port=0, root=root)
    authorizer.add_user(files.user, files.password, str(root), perm="elradfmw")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "log_prefix": ""})
    server = FTPServer(("127.0.0.1", 0), handler)
    files.port = server.address[1]
    running = threading.Event()
    running.set()

    def serve() -> None:
        while running.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield files
    running.clear()
    thread.join()
