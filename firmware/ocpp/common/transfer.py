"""File transfers for firmware updates and diagnostics: HTTP(S) and FTP, blocking, run in a worker thread.

The standard library does the work (`urllib.request` for HTTP(S), `ftplib` for FTP): files are small,
transfers are rare, and a thread keeps the event loop free without another dependency. Every failure is
raised as `TransferError` with a message that names the URL (credentials masked) and the cause. Sizes
are bounded both ways (MAX_DOWNLOAD_BYTES, MAX_UPLOAD_BYTES), so a CSMS cannot fill the SD card.
"""

from __future__ import annotations

import base64
import ftplib
import http.client
import ssl
import urllib.error
import urllib.request
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

HttpUploadMethod = Literal["PUT", "POST"]
_CHUNK = 64 * 1024
# Bounds on what a CSMS can make the charger fetch or send (the state directory lives on an SD card):
# a firmware bundle with every wheel it needs is a few tens of MiB; a diagnostics archive is capped when
# it is built (diagnostics.MAX_ARCHIVE_BYTES).
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


# What a transfer can fail with: network and file errors, FTP replies, malformed HTTP, bad URL parts.
_FAILURES = (OSError, ftplib.Error, EOFError, http.client.HTTPException, ValueError)


class Failure(StrEnum):
    """Why a transfer failed, as far as the peer said (OCPP's UploadLogStatus distinguishes these)."""

    OTHER = "other"  # network, timeout, file, any other refusal
    PERMISSION_DENIED = "permission-denied"  # HTTP 401/403, FTP 530/532/550 (not logged in, no access)
    NOT_SUPPORTED = "not-supported"  # HTTP 405/501, FTP 202/502/504 (the server does not do this)
    BAD_MESSAGE = "bad-message"  # a malformed reply: not HTTP, or not an FTP reply


class TransferError(Exception):
    """A download or upload failed; the message says where and why, `failure` what kind of failure."""

    def __init__(self, message: str, failure: Failure = Failure.OTHER) -> None:
        super().__init__(message)
        self.failure = failure


_HTTP_FAILURES = {401: Failure.PERMISSION_DENIED, 403: Failure.PERMISSION_DENIED,
                  405: Failure.NOT_SUPPORTED, 501: Failure.NOT_SUPPORTED}
_FTP_FAILURES = {"530": Failure.PERMISSION_DENIED, "532": Failure.PERMISSION_DENIED,
                 "550": Failure.PERMISSION_DENIED, "202": Failure.NOT_SUPPORTED,
                 "502": Failure.NOT_SUPPORTED, "504": Failure.NOT_SUPPORTED}


def failure_of(exc: BaseException) -> Failure:
    """The kind of a transfer failure."""
    if isinstance(exc, urllib.error.HTTPError):
        return _HTTP_FAILURES.get(exc.code, Failure.OTHER)
    if isinstance(exc, http.client.RemoteDisconnected):  # a BadStatusLine too, but no reply at all
        return Failure.OTHER
    if isinstance(exc, ftplib.error_proto | http.client.BadStatusLine):
        return Failure.BAD_MESSAGE
    if isinstance(exc, ftplib.Error):
        return _FTP_FAILURES.get(str(exc)[:3], Failure.OTHER)
    return Failure.OTHER


class _TooLarge(Exception):
    pass


class _CappedWriter:
    """Writes to `out` until more than `limit` bytes arrive, then refuses (raises _TooLarge)."""

    def __init__(self, out: BinaryIO, limit: int) -> None:
        self._out = out
        self._limit = limit
        self.written = 0
        self.exceeded = False

    def write(self, data: bytes) -> None:
        self.written += len(data)
        if self.written > self._limit:
            self.exceeded = True
            raise _TooLarge
        self._out.write(data)


def masked(url: str) -> str:
    """The URL with any password replaced by `***`, for logs and error messages."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def _scheme(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "ftp"):
        raise TransferError(f"{masked(url)}: unsupported scheme {scheme!r} (allowed: http, https, ftp)")
    return scheme


def check_url(url: str) -> None:
    """Raise TransferError unless `url` is a transfer URL we can use (http, https or ftp with a host)."""
    _scheme(url)
    parts = urlsplit(url)
    if not parts.hostname:
        raise TransferError(f"{masked(url)}: no host in URL")
    try:
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise TransferError(f"{masked(url)}: {exc}") from None


def _ftp_connect(url: str, timeout: float) -> tuple[ftplib.FTP, str]:
    parts = urlsplit(url)
    ftp = ftplib.FTP(timeout=timeout)
    try:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
    except Exception:
        ftp.close()
        raise
    return ftp, unquote(parts.path)


def download(url: str, dest: Path, timeout: float, ssl_context: ssl.SSLContext | None = None,
             max_bytes: int = MAX_DOWNLOAD_BYTES) -> int:
    """Fetch `url` into `dest` (written to a temporary name, then renamed); return the byte count.

    More than `max_bytes` is refused: at once when the server announces the length, else as soon as
    that much has arrived (the partial file is deleted)."""
    check_url(url)
    part = dest.with_name(dest.name + ".part")
    sink: _CappedWriter | None = None
    try:
        with part.open("wb") as out:
            sink = _CappedWriter(out, max_bytes)
            if _scheme(url) == "ftp":
                ftp, path = _ftp_connect(url, timeout)
                with ftp:
                    ftp.retrbinary(f"RETR {path}", sink.write, blocksize=_CHUNK)
            else:
                with _open_http(url, "GET", None, {}, timeout, ssl_context) as response:
                    announced = response.headers.get("Content-Length")
                    if announced is not None and announced.isdigit() and int(announced) > max_bytes:
                        raise _TooLarge
                    while chunk := response.read(_CHUNK):
                        sink.write(chunk)
        part.replace(dest)
    except (_TooLarge, *_FAILURES) as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, _TooLarge) or (sink is not None and sink.exceeded):
            raise TransferError(f"download of {masked(url)} refused: larger than {max_bytes} bytes") from None
        raise TransferError(f"download of {masked(url)} failed: {_describe(exc)}", failure_of(exc)) from exc
    return dest.stat().st_size


def _names_directory(location: str) -> bool:
    """A location whose path is empty or ends with '/' names a directory, not a file."""
    path = urlsplit(location).path
    return path == "" or path.endswith("/")


def upload_target(location: str, file_name: str) -> str:
    """Where a file goes: the directory `location` names + `file_name` (a location with no path, such as
    `ftp://host`, names the root directory), else `location` itself."""
    if not _names_directory(location):
        return location
    parts = urlsplit(location)
    return urlunsplit(parts._replace(path=(parts.path or "/") + file_name))


def upload(
    location: str,
    source: Path,
    timeout: float,
    http_method: HttpUploadMethod = "PUT",
    ssl_context: ssl.SSLContext | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> str:
    """Send `source` to `location` (FTP STOR, HTTP PUT, or HTTP POST as multipart/form-data field `file`).

    Returns the URL the file was stored at (credentials masked).
    """
    check_url(location)
    target = upload_target(location, source.name)
    size = source.stat().st_size
    if size > max_bytes:
        raise TransferError(f"upload to {masked(target)} refused: {source.name} is {size} bytes, "
                            f"more than {max_bytes}")
    try:
        if _scheme(location) == "ftp":
            _ftp_upload(location, source, timeout)
        elif http_method == "PUT":
            headers = {"Content-Type": "application/gzip", "Content-Length": str(source.stat().st_size)}
            with source.open("rb") as body:
                _open_http(target, "PUT", body, headers, timeout, ssl_context).close()
        else:
            boundary = uuid.uuid4().hex
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
            _open_http(target, "POST", _multipart(boundary, source), headers, timeout, ssl_context).close()
    except _FAILURES as exc:
        raise TransferError(f"upload to {masked(target)} failed: {_describe(exc)}", failure_of(exc)) from exc
    return masked(target)


def _open_http(
    url: str,
    method: str,
    body: BinaryIO | bytes | None,
    headers: dict[str, str],
    timeout: float,
    ssl_context: ssl.SSLContext | None,
) -> Any:
    """urlopen, with user:password in the URL sent as HTTP Basic auth (urllib itself rejects it)."""
    parts = urlsplit(url)
    if parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers = {**headers, "Authorization": "Basic " + base64.b64encode(token).decode()}
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        url = urlunsplit(parts._replace(netloc=netloc))
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    return urllib.request.urlopen(request, timeout=timeout, context=ssl_context)


def _ftp_upload(location: str, source: Path, timeout: float) -> None:
    ftp, path = _ftp_connect(location, timeout)
    with ftp:
        if _names_directory(location):
            directory, name = path, source.name
        else:
            directory, _, name = path.rpartition("/")
        if directory.strip("/"):
            ftp.cwd(directory)
        with source.open("rb") as body:
            ftp.storbinary(f"STOR {name}", body, blocksize=_CHUNK)


def _multipart(boundary: str, source: Path) -> bytes:
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{source.name}"\r\n'
        "Content-Type: application/gzip\r\n\r\n"
    ).encode()
    return head + source.read_bytes() + f"\r\n--{boundary}--\r\n".encode()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
