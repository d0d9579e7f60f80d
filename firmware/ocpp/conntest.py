"""The OCPP connection test (`chargepi ocpp test`, part of `chargepi commission`): DNS, TCP, TLS with the
server certificate's details, the websocket upgrade with its credentials, and a BootNotification, each
as a step that names what failed and what to check.

It uses the config file's settings, not what the CSMS changed since (SecurityProfile, installed root
certificates, a newer AuthorizationKey or client certificate). It opens a connection of its own with the
configured identity, so the running controller's connection
may be replaced by the CSMS meanwhile (a CSMS keeps one connection per charge point id); the controller
reconnects by itself afterwards.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException
from websockets.headers import build_authorization_basic

from firmware import __version__
from firmware.ocpp.settings import OcppSettings
from firmware.settings import StationSettings

SUBPROTOCOL = "ocpp1.6"


def tls_context(ocpp: OcppSettings) -> ssl.SSLContext | None:
    """The TLS setup of the config file: its CA (else the system store), TLS 1.2+, the client certificate
    for profile 3."""
    if not ocpp.url.startswith("wss://"):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                     cafile=str(ocpp.ca_file) if ocpp.ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = ocpp.tls_check_hostname
    if ocpp.security_profile == 3 and ocpp.client_cert_file and ocpp.client_key_file:
        ctx.load_cert_chain(ocpp.client_cert_file, ocpp.client_key_file)
    return ctx


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _certificate_facts(cert: dict[str, Any], version: str | None) -> dict[str, Any]:
    def name(parts: Any) -> str:
        return ", ".join(f"{k}={v}" for rdn in parts for k, v in rdn)

    return {"subject": name(cert.get("subject", ())), "issuer": name(cert.get("issuer", ())),
            "valid_from": cert.get("notBefore"), "valid_until": cert.get("notAfter"),
            "names": [v for k, v in cert.get("subjectAltName", ()) if k in ("DNS", "IP Address")],
            "tls_version": version}


async def connection_test(ocpp: OcppSettings, station: StationSettings, authorization_key: str | None = None,
                          step_timeout_s: float = 10.0) -> list[Step]:
    """Run the steps in order, stopping at the first that fails; the steps run so far."""
    timeout = step_timeout_s
    steps: list[Step] = []
    url = urlsplit(ocpp.url)
    host = url.hostname or ""
    tls = url.scheme == "wss"
    port = url.port or (443 if tls else 80)
    key = authorization_key or ocpp.authorization_key

    # 1. DNS
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM), timeout)
    except (OSError, TimeoutError) as exc:
        steps.append(Step("dns", False, f"cannot resolve {host!r}: {exc or 'timed out'}",
                          "check the host name in ocpp.url and the DNS server (/etc/resolv.conf)"))
        return steps
    addresses = sorted({str(info[4][0]) for info in infos})
    steps.append(Step("dns", True, f"{host} is {', '.join(addresses)}", facts={"addresses": addresses}))

    # 2. TCP
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        steps.append(Step("tcp", False, f"cannot connect to {host} port {port}: {exc or 'timed out'}",
                          "check the port in ocpp.url, the CSMS is up, and no firewall blocks the way"))
        return steps
    writer.close()
    steps.append(Step("tcp", True, f"connected to {host} port {port}"))

    # 3. TLS
    context = tls_context(ocpp)
    if context is not None:
        try:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(
                host, port, ssl=context, server_hostname=host), timeout)
            sslobj = writer.get_extra_info("ssl_object")
            facts = _certificate_facts(sslobj.getpeercert() or {}, sslobj.version())
            writer.close()
        except ssl.SSLCertVerificationError as exc:
            steps.append(Step("tls", False, f"the server certificate is not trusted: {exc.verify_message}",
                              "give the CA that signed the CSMS certificate as ocpp.ca_file, or check the "
                              "host name in ocpp.url against the certificate's names"))
            return steps
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            steps.append(Step("tls", False, f"TLS handshake failed: {exc or 'timed out'}",
                              "the port may not speak TLS (ws:// instead of wss://?), or the server "
                              "needs TLS 1.2 or newer"))
            return steps
        names = ", ".join(facts["names"]) or "none"
        steps.append(Step("tls", True, f"{facts['tls_version']}, certificate {facts['subject']} issued by "
                          f"{facts['issuer']}, valid until {facts['valid_until']}, names {names}",
                          facts=facts))

    # 4. websocket upgrade (HTTP 101, subprotocol, credentials)
    headers = {}
    if ocpp.security_profile in (1, 2) and key:
        headers["Authorization"] = build_authorization_basic(ocpp.charge_point_id, key)
    target = ocpp.url.rstrip("/") + "/" + ocpp.charge_point_id
    kwargs: dict[str, Any] = {"subprotocols": [SUBPROTOCOL], "additional_headers": headers,
                              "open_timeout": timeout, "proxy": None,
                              "user_agent_header": f"chargepi/{__version__}"}
    if context is not None:
        kwargs["ssl"] = context
    try:
        ws = await connect(target, **kwargs)
    except InvalidStatus as exc:
        status = exc.response.status_code
        fix = {401: "the CSMS refused the credentials: check ocpp.charge_point_id and ocpp.authorization_key "
                    "(the CSMS may have set a newer key with ChangeConfiguration AuthorizationKey)",
               403: "the CSMS refused this charge point: is ocpp.charge_point_id registered there?",
               404: "no OCPP endpoint at this path: check the path in ocpp.url"}.get(
            status, "check ocpp.url against what the CSMS operator gave you")
        steps.append(Step("upgrade", False, f"the CSMS answered HTTP {status} instead of switching to "
                          "websocket", fix, facts={"http_status": status}))
        return steps
    except (InvalidHandshake, WebSocketException, OSError, TimeoutError) as exc:
        steps.append(Step("upgrade", False, f"websocket upgrade failed: {exc or 'timed out'}",
                          "check the path in ocpp.url; a proxy in between must pass websockets"))
        return steps
    try:
        if ws.subprotocol != SUBPROTOCOL:
            steps.append(Step("upgrade", False, f"the CSMS did not select {SUBPROTOCOL} "
                              f"(got {ws.subprotocol!r})", "the endpoint is not an OCPP 1.6J endpoint: "
                              "check ocpp.url (OCPP 2.0.1 endpoints need another URL)"))
            return steps
        steps.append(Step("upgrade", True, f"websocket open at {target} with subprotocol {SUBPROTOCOL}"
                          + (" and HTTP Basic auth" if headers else "")))

        # 5. BootNotification
        unique_id = str(uuid.uuid4())
        boot = {"chargePointVendor": station.vendor, "chargePointModel": station.model,
                "chargePointSerialNumber": station.serial_number, "firmwareVersion": station.firmware_version}
        await ws.send(json.dumps([2, unique_id, "BootNotification", boot]))
        try:
            async with asyncio.timeout(timeout):
                while True:
                    frame = json.loads(await ws.recv())
                    if isinstance(frame, list) and len(frame) >= 3 and frame[1] == unique_id:
                        break
                    if isinstance(frame, list) and frame and frame[0] == 2:  # a CALL from the CSMS
                        await ws.send(json.dumps([4, frame[1], "GenericError", "connection test", {}]))
        except (TimeoutError, WebSocketException, ValueError) as exc:
            steps.append(Step("boot", False, f"no answer to BootNotification: {exc or 'timed out'}",
                              "the CSMS accepted the connection but does not answer: ask its operator"))
            return steps
        if frame[0] != 3 or not isinstance(frame[2], dict):
            steps.append(Step("boot", False, f"the CSMS answered BootNotification with {frame[2:]}",
                              "ask the CSMS operator"))
            return steps
        answer = frame[2]
        boot_status = answer.get("status")
        detail = (f"BootNotification {boot_status}, heartbeat interval {answer.get('interval')} s, CSMS time "
                  f"{answer.get('currentTime')}")
        fix = "" if boot_status == "Accepted" else \
            "the CSMS does not (yet) accept this charger: register it there (vendor, model, serial number)"
        steps.append(Step("boot", boot_status in ("Accepted", "Pending"), detail, fix, facts=answer))
    finally:
        await ws.close()
    return steps


def render(steps: list[Step]) -> str:
    lines = []
    for step in steps:
        lines.append(f"{'PASS' if step.ok else 'FAIL'}  {step.name:8s} {step.detail}")
        if step.fix:
            lines.append(f"      {'':8s} fix: {step.fix}")
    return "\n".join(lines)
