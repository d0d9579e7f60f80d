"""SecurityEventNotification (A04) of a whole 2.0.1 charger against the v201 test CSMS: the security log's
reported events with their 2.0.1 names and techInfo, queued while offline and delivered in order after
reconnecting and after a power cut, exactly once; local-only events stay local."""

from __future__ import annotations

from pathlib import Path

from ocpp.v201 import call

from firmware import __version__
from firmware.ocpp.v201.security_events import event_type, payload
from firmware.security.events import REPORTED, SecurityEventType
from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_transactions_e2e import adapter
from tests.ocpp201.test_transactions_recovery import restarted

# P2-App security_events.csv: the 2.0.1 security event names.
SPEC_NAMES = {
    "FirmwareUpdated", "FailedToAuthenticateAtCsms", "CsmsFailedToAuthenticate", "SettingSystemTime",
    "StartupOfTheDevice", "ResetOrReboot", "SecurityLogWasCleared", "ReconfigurationOfSecurityParameters",
    "MemoryExhaustion", "InvalidMessages", "AttemptedReplayAttacks", "TamperDetectionActivated",
    "InvalidFirmwareSignature", "InvalidFirmwareSigningCertificate", "InvalidCsmsCertificate",
    "InvalidChargingStationCertificate", "InvalidTLSVersion", "InvalidTLSCipherSuite",
    "MaintenanceLoginAccepted", "MaintenanceLoginFailed"}


def sent(csms: Csms) -> list[tuple[str, str | None]]:
    return [(e["type"], e.get("tech_info")) for e in csms.of("SecurityEventNotification")]


def test_every_event_of_the_log_has_its_2_0_1_name() -> None:
    assert {event_type(t) for t in SecurityEventType} <= SPEC_NAMES
    assert event_type("InvalidCentralSystemCertificate") == "InvalidCsmsCertificate"
    assert event_type("AcmeDoorOpened") == "AcmeDoorOpened"  # a vendor event keeps its name


async def test_startup_event_is_sent_after_registration(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url))
        await eventually(lambda: sent(csms) != [], h.clock, 0.1, within=15)
        assert sent(csms) == [("StartupOfTheDevice", f"chargepi {__version__}")]
        got = csms.of("SecurityEventNotification")[0]
        assert got["timestamp"].endswith("Z")


async def test_offline_events_arrive_in_order_after_reconnect_and_after_a_power_cut(
        make_harness: HarnessFactory, short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await make_harness(state_dir=short_dir, ocpp=section(csms.url), station={"free_charging": True})
        await eventually(lambda: len(sent(csms)) == 1, h.clock, 0.1, within=15)  # StartupOfTheDevice
        await adapter(h).link.disable()
        log = h.app.security_log
        log.record(SecurityEventType.INVALID_CSMS_CERTIFICATE, "expired 2029-01-01")
        log.record(SecurityEventType.INVALID_MESSAGES, "garbage frame")  # local only
        log.record(SecurityEventType.SETTING_SYSTEM_TIME, "clock moved by 400 s")
        await h.advance(30)
        assert len(sent(csms)) == 1
        adapter(h).link.enable()
        await eventually(lambda: len(sent(csms)) == 3, h.clock, 0.1, within=15)
        assert sent(csms)[1:] == [("InvalidCsmsCertificate", "expired 2029-01-01"),
                                  ("SettingSystemTime", "clock moved by 400 s")]

        # Queued offline, then the power goes: the next start delivers them, once, still in order.
        await adapter(h).link.disable()
        log.record(SecurityEventType.TAMPER_DETECTION_ACTIVATED, "lid opened")
        log.record(SecurityEventType.RESET_OR_REBOOT)
        h2 = await restarted(make_harness, h, short_dir, csms.url)
        await eventually(lambda: len(sent(csms)) >= 6, h2.clock, 0.1, within=15)
        await h2.advance(5)
        assert [t for t, _ in sent(csms)[3:]] == ["TamperDetectionActivated", "ResetOrReboot",
                                                   "StartupOfTheDevice"]
        assert "tech_info" not in csms.of("SecurityEventNotification")[4]  # ResetOrReboot: none given


async def test_queued_security_events_are_not_transaction_messages(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["SecurityEventNotification"] = lambda p: (_ for _ in ()).throw(RuntimeError("down"))
        h = await make_harness(ocpp=section(csms.url))
        await eventually(lambda: len(sent(csms)) >= 1, h.clock, 0.1, within=15)  # refused: stays queued
        assert adapter(h).outbox.durable_depth() >= 1
        assert csms.peer is not None
        answer = await csms.peer.call(call.GetTransactionStatus(), suppress=False)
        assert answer.messages_in_queue is False  # E14.FR.06: only transaction messages count


def test_every_reported_type_renders_a_valid_payload() -> None:
    from datetime import UTC, datetime

    from firmware.security.events import SecurityEvent

    for name in REPORTED:
        body = payload(SecurityEvent(1, datetime(2030, 1, 1, tzinfo=UTC), name, "x" * 255, True, True))
        assert body["type"] in SPEC_NAMES and body["tech_info"] == "x" * 255
        assert body["timestamp"].startswith("2030-01-01T00:00:00")
