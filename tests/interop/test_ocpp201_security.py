"""The real 2.0.1 charger against the strict ocpp-rpc CSMS (tools/interop/csms.js, schema validation both
ways): SecurityEventNotification, also for events recorded while offline. The charger runs on simulated
time; the network and the CSMS run in real time."""

from __future__ import annotations

from typing import Any

from firmware.ocpp.v201.adapter import Adapter201
from firmware.security.events import SecurityEventType
from tests.conftest import Harness, HarnessFactory
from tests.interop.harness import InteropCsms, run_interop_csms
from tests.interop.test_charger_profiles import clean, drive

CP = "CP_201_SEC"


async def charger(make_harness: HarnessFactory, csms: InteropCsms, **ocpp: Any) -> Harness:
    section = {"url": csms.url, "charge_point_id": CP, "version": "2.0.1", "ping_interval_s": 0,
               "reconnect_min_s": 1.0, "response_timeout_s": 5.0, **ocpp}
    harness: Harness = await make_harness(ocpp=section, station={"free_charging": True})
    return harness


def events(csms: InteropCsms) -> list[tuple[str, str | None]]:
    return [(p["type"], p.get("techInfo")) for _, p in csms.calls("SecurityEventNotification", cp=CP)]


async def test_security_events_strict(make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        h = await charger(make_harness, csms)
        await drive(h, lambda: len(events(csms)) == 1)
        assert events(csms)[0][0] == "StartupOfTheDevice"
        runtime = h.app.ocpp
        assert isinstance(runtime, Adapter201)
        await runtime.link.disable()
        h.app.security_log.record(SecurityEventType.INVALID_CHARGING_STATION_CERTIFICATE, "not ours")
        h.app.security_log.record(SecurityEventType.SECURITY_LOG_WAS_CLEARED)
        runtime.link.enable()
        await drive(h, lambda: len(events(csms)) == 3)
        assert events(csms)[1:] == [("InvalidChargingStationCertificate", "not ours"),
                                    ("SecurityLogWasCleared", None)]
        clean(csms)
