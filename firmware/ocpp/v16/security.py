"""OCPP 1.6 security whitepaper (edition 2) messages, on the protocol-neutral certificate store and
security event log (`firmware/security/`).

* InstallCertificate / DeleteCertificate / GetInstalledCertificateIds: the store's roots, through the
  certificate management 2.0.1 shares (firmware/ocpp/common/certificates.py). Manufacturer roots decide
  which firmware may run, so no CSMS can change them (they are the provisioned `[ocpp.firmware]
  trust_roots`, only listed); the last CSMS root is not deleted while the link needs it, nor the charge
  point's own certificate.
* ExtendedTriggerMessage, incl. SignChargePointCertificate: a new key and CSR made here, sent with
  SignCertificate; CertificateSigned is checked against that request and swapped in for the next
  connection (the common code too).
* SecurityEventNotification: every event to report is queued in the durable outbox, exactly once (a
  cursor in the same SQLite transaction; firmware/ocpp/common/security_events.py, shared with 2.0.1), so
  events survive being offline and restarts.
* GetLog (DiagnosticsLog: the GetDiagnostics archive; SecurityLog: the security log as gzip text) with
  LogStatusNotification, uploaded by the diagnostics uploader.

The handlers answer at once; anything that sends a CALL runs afterwards as a task the runtime owns.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from ocpp.v16 import call, call_result

from firmware.ocpp.common.certificates import CertificateManager, CertificateSigning
from firmware.ocpp.common.diagnostics import DiagnosticsUploader
from firmware.ocpp.common.invalid_messages import InvalidMessages
from firmware.ocpp.common.link_security import LinkSecurity
from firmware.ocpp.common.log_upload import LogUploads
from firmware.ocpp.common.security_events import SecurityEventForwarder
from firmware.ocpp.common.timefmt import parse_ocpp_time, rfc3339
from firmware.ocpp.v16.services import Services16
from firmware.security.certificates import (
    CertificateHashData,
    CertificateKind,
    CertificateRejected,
    CertificateStore,
    load_chain,
)
from firmware.security.events import SecurityEvent
from firmware.storage.database import StateDatabase

log = logging.getLogger(__name__)

SECURITY_EVENT = "SecurityEventNotification"
KINDS = {"CentralSystemRootCertificate": CertificateKind.CSMS_ROOT,
         "ManufacturerRootCertificate": CertificateKind.MANUFACTURER_ROOT}
DEFAULT_RETRY_INTERVAL_S = 60.0

Trigger = Callable[[int | None], Awaitable[None]]
MakeUploader = Callable[[Callable[[str], Awaitable[None]]], DiagnosticsUploader]


def _event_payload(event: SecurityEvent) -> dict[str, Any]:
    return {"type": event.type, "timestamp": rfc3339(event.timestamp), "tech_info": event.tech_info}


class SecurityExtensions:
    def __init__(self, services: Services16, db: StateDatabase, certificates: CertificateStore,
                 link_security: LinkSecurity, make_uploader: MakeUploader,
                 send_triggered: Callable[[str, int | None], Awaitable[None]], serial_number: str) -> None:
        self._services = services
        self._link_security = link_security
        self._send_triggered = send_triggered
        self._serial_number = serial_number
        self.store = certificates
        self.certificates = CertificateManager(certificates, link_security, services.security_log,
                                               services.clock, services.settings.ca_file is not None)
        self._signing = CertificateSigning(certificates, services.clock)
        self.events = services.security_log
        self._forwarder = SecurityEventForwarder(db, self.events, services.outbox, SECURITY_EVENT,
                                                 _event_payload, services.wake_outbox)
        for action, handler, after in (
                ("InstallCertificate", self.on_install_certificate, None),
                ("DeleteCertificate", self.on_delete_certificate, None),
                ("GetInstalledCertificateIds", self.on_get_installed_certificate_ids, None),
                ("CertificateSigned", self.on_certificate_signed, None),
                ("ExtendedTriggerMessage", self.on_extended_trigger, self.after_extended_trigger),
                ("GetLog", self.on_get_log, self.after_get_log)):
            services.extensions.register_handler(action, handler, after)
        # What ExtendedTriggerMessage sends, through the runtime's triggered-message queue like
        # TriggerMessage; FirmwareStatusNotification asks for the whitepaper's signed status message.
        self.triggers: dict[str, Trigger] = {
            name: self._classic_trigger(name) for name in (
                "BootNotification", "Heartbeat", "MeterValues", "StatusNotification")}
        signed_status = self._classic_trigger("SignedFirmwareStatusNotification")
        self.triggers["FirmwareStatusNotification"] = signed_status
        self.triggers["LogStatusNotification"] = lambda connector_id: self._send_log_status()
        self.triggers["SignChargePointCertificate"] = lambda connector_id: self.sign_certificate()
        self.logs = LogUploads(make_uploader, self.events, services.settings.charge_point_id, services.clock,
                               self._log_status, services.spawn, log)
        self.invalid_messages = InvalidMessages(self.events, services.clock.monotonic)
        services.station.add_status_section("security", self.status)

    def close(self) -> None:
        self._forwarder.close()

    def status(self) -> dict[str, Any]:
        """The `security` section of `chargepi status`: profile, client certificate, roots."""
        link = self._link_security
        identity = link.client_identity()
        client: dict[str, Any] | None = None
        if identity is not None:
            try:
                cert = load_chain(identity[0].read_bytes())[0]
                client = {"subject": cert.subject.rfc4514_string(),
                          "not_after": rfc3339(cert.not_valid_after_utc),
                          "source": "signed by the CSMS" if self.store.identity() else "configured"}
            except (OSError, CertificateRejected) as exc:
                client = {"error": str(exc)}
        return {"security_profile": link.profile, "upgrading_from": link.upgrading_from,
                "client_certificate": client, "certificate_signing_pending": self.store.signing_pending,
                "csms_roots": len(self.store.roots(CertificateKind.CSMS_ROOT)),
                "manufacturer_roots": len(self.store.manufacturer_roots())}

    def _classic_trigger(self, name: str) -> Trigger:
        """A message TriggerMessage can also ask for: sent the same way."""
        return lambda connector_id: self._send_triggered(name, connector_id)

    # ---- SecurityEventNotification (firmware/ocpp/common/security_events.py) -------------------------
    def forward(self) -> None:
        """Queue every event to report that is not queued yet."""
        self._forwarder.forward()

    # ---- certificates (firmware/ocpp/common/certificates.py) ------------------------------------------
    def on_install_certificate(self, certificate_type: str, certificate: str, **kwargs: Any) -> Any:
        status = self.certificates.install(KINDS[certificate_type], certificate_type, certificate)
        return call_result.InstallCertificate(status=str(status))

    def on_delete_certificate(self, certificate_hash_data: dict[str, Any], **kwargs: Any) -> Any:
        status = self.certificates.delete(CertificateHashData(**certificate_hash_data))
        return call_result.DeleteCertificate(status=str(status))

    def on_get_installed_certificate_ids(self, certificate_type: str, **kwargs: Any) -> Any:
        installed = self.certificates.installed(KINDS[certificate_type])
        if not installed:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data=[asdict(data) for data in installed])

    def on_certificate_signed(self, certificate_chain: str, **kwargs: Any) -> Any:
        accepted = self.certificates.certificate_signed(
            certificate_chain, self._services.config.get_int("CertificateSignedMaxChainSize"))
        return call_result.CertificateSigned(status="Accepted" if accepted else "Rejected")

    async def sign_certificate(self) -> None:
        """New key pair and CSR; SignCertificate to the CSMS (the certificate comes in CertificateSigned).
        The 1.6 whitepaper (edition 2) has no retry keys: one request per trigger."""
        async def send(csr: str) -> str:
            return str((await self._services.calls.call_online(call.SignCertificate(csr=csr))).status)

        organization = self._services.config.get("CpoName") or None
        await self._signing.request(self._serial_number, organization, send)

    # ---- ExtendedTriggerMessage ---------------------------------------------------------------------
    def _trigger_ok(self, requested_message: str, connector_id: int | None) -> bool:
        ids = self._services.station.connector_ids
        return requested_message in self.triggers and (connector_id is None or connector_id == 0
                                                       or connector_id in ids)

    def on_extended_trigger(self, requested_message: str, connector_id: int | None = None,
                            **kwargs: Any) -> Any:
        if requested_message not in self.triggers:
            return call_result.ExtendedTriggerMessage(status="NotImplemented")
        ok = self._trigger_ok(requested_message, connector_id)
        return call_result.ExtendedTriggerMessage(status="Accepted" if ok else "Rejected")

    async def after_extended_trigger(self, requested_message: str, connector_id: int | None = None,
                                     **kwargs: Any) -> None:
        if self._trigger_ok(requested_message, connector_id):
            await self.triggers[requested_message](connector_id)

    # ---- GetLog (firmware/ocpp/common/log_upload.py) --------------------------------------------------
    async def _log_status(self, status: str, request_id: int | None) -> None:
        await self._services.calls.call_online(call.LogStatusNotification(status=status,
                                                                          request_id=request_id))

    async def _send_log_status(self) -> None:
        await self._log_status(*self.logs.current())

    async def on_get_log(self, log_type: str, request_id: int, call_unique_id: str, **kwargs: Any) -> Any:
        params: dict[str, Any] = kwargs["log"]
        # One upload at a time: a new request cancels the running (or not yet started) one (AcceptedCanceled,
        # docs/reference/ocpp16-security.md).
        answer, filename = await self.logs.request(
            call_unique_id, log_type, request_id, params["remote_location"],
            parse_ocpp_time(params.get("oldest_timestamp")), parse_ocpp_time(params.get("latest_timestamp")))
        return call_result.GetLog(status=str(answer), filename=filename)

    async def after_get_log(self, call_unique_id: str, retries: int | None = None,
                            retry_interval: int | None = None, **kwargs: Any) -> None:
        interval = float(retry_interval) if retry_interval is not None else DEFAULT_RETRY_INTERVAL_S
        await self.logs.start(call_unique_id, kwargs["log"]["remote_location"], retries or 1, interval)
