"""OCPP 1.6 signed meter values (OCA "Signed Meter Values in OCPP" §3, docs/signed-metering.md): the
signing meter's records as `format: SignedData` sampled values.

The start record goes out in a MeterValues right after StartTransaction (context Transaction.Begin) and
into the session's transaction data; the end record (Transaction.End) into StopTransaction.transactionData,
which is queued only once the meter has signed (or given up). The value is the SignedMeterValueType JSON
as a string: signedMeterData (Base64 of the OCMF text), signingMethod ("" - OCMF names it), encodingMethod,
publicKey (Base64 of "oca:base16:asn1:<hex DER key>", per PublicKeyWithSignedMeterValue).
Keys: MeterPublicKey<connector> (read-only), PublicKeyWithSignedMeterValue.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from firmware.metering.signed import BEGIN, SignedMetering, SignedReading
from firmware.ocpp.common.timefmt import rfc3339
from firmware.ocpp.v16.messages import METER_VALUES
from firmware.ocpp.v16.services import Services16


def signed_sampled_value(reading: SignedReading, with_key: bool) -> dict[str, Any]:
    record = reading.record
    key = base64.b64encode(f"oca:base16:asn1:{record.public_key}".encode()).decode() if with_key else ""
    value = {"signedMeterData": base64.b64encode(record.data.encode()).decode(),
             "signingMethod": record.signing_method, "encodingMethod": record.encoding, "publicKey": key}
    return {"value": json.dumps(value, separators=(",", ":")), "context": reading.context,
            "format": "SignedData", "measurand": "Energy.Active.Import.Register", "location": "Outlet",
            "unit": "Wh"}


class SignedValues16:
    """Feeds the signing meters' records into the 1.6 transaction messages."""

    def __init__(self, services: Services16, metering: SignedMetering) -> None:
        self._services = services
        self._config = services.config
        self._outbox = services.outbox
        self.metering = metering
        self._key_sent: set[str] = set()  # sessions whose public key went out already
        self._stopping: set[str] = set()  # sessions whose StopTransaction waits for the signed end
        self._early: dict[str, SignedReading] = {}  # begin records signed before StartTransaction was queued
        metering.sinks.append(self._on_reading)
        metering.key_sinks.append(self._on_key)

    def _on_key(self, connector_id: int, key: str) -> None:
        name = f"MeterPublicKey{connector_id}"
        if name in self._config.keys:
            self._config.set_value(name, key)

    def _with_key(self, session_id: str) -> bool:
        mode = (self._config.get_list("PublicKeyWithSignedMeterValue") or ["OncePerTransaction"])[0]
        if mode == "EveryMeterValue":
            return True
        if mode == "OncePerTransaction" and session_id not in self._key_sent:
            self._key_sent.add(session_id)
            return True
        return False

    def meter_value(self, reading: SignedReading) -> dict[str, Any]:
        return {"timestamp": rfc3339(reading.taken_at),
                "sampled_value": [signed_sampled_value(reading, self._with_key(reading.session_id))]}

    def _on_reading(self, reading: SignedReading) -> None:
        if reading.context != BEGIN:
            return  # the end record goes with StopTransaction (stop_after_signing)
        if not self._outbox.knows(reading.session_id):
            self._early[reading.session_id] = reading  # StartTransaction waits (e.g. for the user price)
            return
        value = self.meter_value(reading)
        self._outbox.add_tx_data(reading.session_id, value)
        self._outbox.push(METER_VALUES, {"connector_id": reading.connector_id, "meter_value": [value]},
                          session_id=reading.session_id)
        self._services.wake_outbox()

    def started(self, session_id: str) -> None:
        """StartTransaction of `session_id` is queued: a begin record that was ready before follows it."""
        early = self._early.pop(session_id, None)
        if early is not None:
            self._on_reading(early)

    def stop_after_signing(self, session_id: str, connector_id: int, queue_stop: Callable[[], None]) -> bool:
        """For a session on a signing meter: queue its StopTransaction once the signed end value is in its
        transaction data. False (nothing done) for other sessions."""
        if not self.metering.signs(connector_id):
            return False
        if session_id in self._stopping:
            return True  # queued already (the core's PowerLoss report and the adapter's reconciliation)
        self._stopping.add(session_id)

        async def when_signed() -> None:
            try:
                reading = await self.metering.end_of(session_id, connector_id)
                if reading is not None:
                    self._outbox.add_tx_data(session_id, self.meter_value(reading))
            finally:
                self._key_sent.discard(session_id)
                self._stopping.discard(session_id)
                queue_stop()

        self._services.spawn(when_signed(), f"ocmf-stop-{session_id}")
        return True
