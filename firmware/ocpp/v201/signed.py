"""OCPP 2.0.1 signed meter values (OCA "Signed Meter Values in OCPP" §4, docs/signed-metering.md): the
signing meter's records as `signedMeterValue` of an Energy.Active.Import.Register sampled value.

The begin record goes into the transaction's Ended values and out at once: in Started when it was signed
before the transaction began, else in an Updated with triggerReason SignedDataReceived. Ended waits for the
signed end record (or for the meter to give up), like 1.6's StopTransaction: Transactions201 asks
`end_of`. The sampled value's `value` is the register the record signs (its last reading), in Wh;
signedMeterData is Base64 of the OCMF text, publicKey Base64 of "oca:base16:asn1:<hex DER key>" as
OCPPCommCtrlr.PublicKeyWithSignedMeterValue says: on the first signed value of each transaction and "" after
(OncePerTransaction, the default), on every one (EveryMeterValue) or never (Never).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from firmware.metering.signed import SignedMetering, SignedReading
from firmware.ocpp.common.timefmt import rfc3339

ENERGY = "Energy.Active.Import.Register"
KWH_UNITS = ("kWh", "KWH")


def register_wh(reading: SignedReading) -> float:
    """The energy register the record signs (its last reading), in Wh (0 when it has no reading)."""
    readings = reading.record.readings
    if not readings:
        return 0.0
    last = readings[-1]
    value = float(last.get("RV", 0.0))
    return round(value * 1000.0, 3) if str(last.get("RU", "kWh")) in KWH_UNITS else value


def signed_meter_value(reading: SignedReading, with_key: bool) -> dict[str, Any]:
    """One MeterValueType (snake_case keys, as the `ocpp` library expects) carrying the record."""
    record = reading.record
    key = base64.b64encode(f"oca:base16:asn1:{record.public_key}".encode()).decode() if with_key else ""
    wh = register_wh(reading)
    sampled = {
        "value": int(wh) if wh == int(wh) else wh, "context": reading.context, "measurand": ENERGY,
        "location": "Outlet", "unit_of_measure": {"unit": "Wh"},
        "signed_meter_value": {"signed_meter_data": base64.b64encode(record.data.encode()).decode(),
                               "signing_method": record.signing_method, "encoding_method": record.encoding,
                               "public_key": key}}
    return {"timestamp": rfc3339(reading.taken_at), "sampled_value": [sampled]}


class SignedValues201:
    """The signing meters' records for the 2.0.1 transactions, keyed by the core's session."""

    def __init__(self, metering: SignedMetering, key_mode: Callable[[], str]) -> None:
        self.metering = metering
        self._key_mode = key_mode  # the PublicKeyWithSignedMeterValue value now
        self._key_sent: set[str] = set()  # sessions whose public key went out already
        self._begins: dict[str, SignedReading] = {}  # begin records not yet in a transaction
        self.on_begin: Callable[[SignedReading], bool] | None = None  # True: a transaction took it
        metering.sinks.append(self._on_reading)

    def signs(self, connector_id: int) -> bool:
        return self.metering.signs(connector_id)

    def value(self, reading: SignedReading) -> dict[str, Any]:
        first = reading.session_id not in self._key_sent
        self._key_sent.add(reading.session_id)
        mode = self._key_mode()
        with_key = mode == "EveryMeterValue" or (first and mode == "OncePerTransaction")
        return signed_meter_value(reading, with_key)

    def _on_reading(self, reading: SignedReading) -> None:
        if reading.context != "Transaction.Begin":
            return
        if self.on_begin is None or not self.on_begin(reading):
            self._begins[reading.session_id] = reading

    def take_begin(self, session_id: str | None) -> SignedReading | None:
        """The begin record of `session_id` signed before its transaction began."""
        return None if session_id is None else self._begins.pop(session_id, None)

    async def end_of(self, session_id: str, connector_id: int) -> dict[str, Any] | None:
        """The signed end as a MeterValueType, once the meter signed it (None if it could not)."""
        reading = await self.metering.end_of(session_id, connector_id)
        self._begins.pop(session_id, None)
        value = None if reading is None else self.value(reading)
        self._key_sent.discard(session_id)
        return value
