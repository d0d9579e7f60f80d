"""Certificate management for 2.0.1 (M03-M05) and the station certificate's renewal (A02, A03), on the
certificate handling 1.6 uses too (firmware/ocpp/common/certificates.py). Facts: docs/reference/ocpp201.md
§20.

- InstallCertificate (M05): CSMSRootCertificate is checked (one CA certificate, valid now: else Rejected,
  TC_M_07) and stored; it counts in SecurityCtrlr.CertificateEntries. ManufacturerRootCertificate decides
  which firmware runs: Rejected, those are provisioned (`[ocpp.firmware] trust_roots`). V2GRootCertificate
  and MORootCertificate belong to ISO 15118, which chargepi does not have: Rejected (NotSupported).
- GetInstalledCertificateIds (M03): certificateHashDataChain of the CSMS and manufacturer roots (the
  requested types, all when absent); NotFound when there is none (TC_M_19). V2GCertificateChain: none.
- DeleteCertificate (M04): Accepted / NotFound; Failed for the station's own ChargingStationCertificate
  (M04.FR.06, TC_M_23), for a manufacturer root and for the last CSMS root a TLS link needs.
- TriggerMessage SignChargingStationCertificate (A02) and the station itself before its certificate runs
  out (A03, `RENEW_BEFORE`, security profile 3 only): a new key (never leaves the charger) and a CSR with
  CN = the station's serial number and O = SecurityCtrlr.OrganizationName, sent as SignCertificate
  certificateType ChargingStationCertificate; again after CertSigningWaitMinimum s, doubling, at most
  CertSigningRepeatTimes times, while no acceptable CertificateSigned came. SignV2GCertificate and
  SignCombinedCertificate are ISO 15118: not offered (NotImplemented).
- CertificateSigned: longer than MaxCertificateChainSize, not for the pending request's key and subject,
  not valid now or not chaining to a CSMS root → Rejected and the InvalidChargingStationCertificate security
  event; else Accepted, and the next connection uses it as its TLS client certificate (security profile 3;
  if the CSMS refuses it there, the previous one comes back, firmware/ocpp/common/link_security.py).
  certificateType V2GCertificate → Rejected (no ISO 15118).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call, call_result

from firmware.ocpp.common.certificates import CertificateManager, CertificateSigning
from firmware.ocpp.common.link_security import LinkSecurity
from firmware.ocpp.common.tasks import OwnedTasks
from firmware.ocpp.v201.charge_point import on
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.ocpp.v201.trigger import EvseRef, Trigger
from firmware.security.certificates import CertificateHashData, CertificateKind, CertificateStore
from firmware.security.events import SecurityLog
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

INSTALL_KINDS = {"CSMSRootCertificate": CertificateKind.CSMS_ROOT,
                 "ManufacturerRootCertificate": CertificateKind.MANUFACTURER_ROOT}
LISTED_KINDS = INSTALL_KINDS  # GetCertificateIdUseEnumType values the store has certificates of
STATION_CERTIFICATE = "ChargingStationCertificate"
RENEW_BEFORE = timedelta(days=14)  # A03: chargepi's choice, the spec leaves it to the station
RENEWAL_CHECK_S = 86400.0
NOT_SUPPORTED = {"reason_code": "NotSupported"}  # ISO 15118 certificates


class Certificates201:
    def __init__(self, store: CertificateStore, link_security: LinkSecurity, security_log: SecurityLog,
                 clock: Clock, model: DeviceModel, ca_file_configured: bool, serial_number: str,
                 connection: Callable[[], ChargePoint201 | None], online: Callable[[], bool]) -> None:
        self.manager = CertificateManager(store, link_security, security_log, clock, ca_file_configured)
        self._store = store
        self._link_security = link_security
        self._clock = clock
        self._model = model
        self._serial_number = serial_number
        self._connection = connection
        self._online = online
        self._signing = CertificateSigning(store, clock)
        self._tasks = OwnedTasks(log)
        self._requesting = False

    def stop(self) -> None:
        self._tasks.cancel_all()

    # ---- M05, M03, M04 ------------------------------------------------------------------------------
    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type: str, certificate: str, **kwargs: Any) -> Any:
        kind = INSTALL_KINDS.get(certificate_type)
        if kind is None:
            return call_result.InstallCertificate(status="Rejected", status_info=NOT_SUPPORTED)
        status = self.manager.install(kind, certificate_type, certificate)
        return call_result.InstallCertificate(status=str(status))

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, certificate_type: list[str] | None = None,
                                         **kwargs: Any) -> Any:
        wanted = certificate_type if certificate_type is not None else list(LISTED_KINDS)
        chains = [{"certificate_type": name, "certificate_hash_data": asdict(data)}
                  for name in wanted if name in LISTED_KINDS
                  for data in self.manager.installed(LISTED_KINDS[name])]
        if not chains:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data_chain=chains)

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any], **kwargs: Any) -> Any:
        wanted = CertificateHashData(str(certificate_hash_data["hash_algorithm"]),
                                     str(certificate_hash_data["issuer_name_hash"]),
                                     str(certificate_hash_data["issuer_key_hash"]),
                                     str(certificate_hash_data["serial_number"]))
        return call_result.DeleteCertificate(status=str(self.manager.delete(wanted)))

    # ---- A02, A03 -----------------------------------------------------------------------------------
    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain: str, certificate_type: str | None = None,
                              **kwargs: Any) -> Any:
        if certificate_type not in (None, STATION_CERTIFICATE):
            log.warning("CertificateSigned %s refused: no ISO 15118", certificate_type)
            return call_result.CertificateSigned(status="Rejected", status_info=NOT_SUPPORTED)
        accepted = self.manager.certificate_signed(
            certificate_chain, self._model.integer("SecurityCtrlr.MaxCertificateChainSize"))
        return call_result.CertificateSigned(status="Accepted" if accepted else "Rejected")

    def triggers(self) -> dict[str, Trigger]:
        async def sign(cp: ChargePoint201, evse: EvseRef | None) -> None:
            self.request_certificate()

        return {"SignChargingStationCertificate": Trigger(sign)}

    def request_certificate(self) -> None:
        """Start a signing request (a new one replaces one still waiting for its certificate)."""
        self._tasks.spawn(self._request(), "ocpp201-sign-certificate")

    async def _request(self) -> None:
        self._requesting = True
        try:
            await self._signing.request(
                self._serial_number, self._model.text("SecurityCtrlr.OrganizationName") or None, self._send,
                self._model.integer("SecurityCtrlr.CertSigningWaitMinimum"),
                self._model.integer("SecurityCtrlr.CertSigningRepeatTimes"))
        finally:
            self._requesting = False

    async def _send(self, csr: str) -> str:
        cp = self._connection()
        if cp is None or not self._online():
            raise ConnectionError("not registered with the CSMS")
        answer = await cp.call(call.SignCertificate(csr=csr, certificate_type=STATION_CERTIFICATE),
                               suppress=False)
        return str(answer.status)

    async def online(self, cp: ChargePoint201) -> None:
        """A03: renew the station certificate in use before it runs out; checked daily while online."""
        while True:
            if self._renewal_due():
                log.warning("the station certificate expires within %d days: asking the CSMS for a new one",
                            RENEW_BEFORE.days)
                self.request_certificate()
            await self._clock.sleep(RENEWAL_CHECK_S)

    def _renewal_due(self) -> bool:
        if self._link_security.profile != 3 or self._requesting:
            return False
        own = self.manager.own_certificate()
        return own is not None and own.not_valid_after_utc - self._clock.now() < RENEW_BEFORE
