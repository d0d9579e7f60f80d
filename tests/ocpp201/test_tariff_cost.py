"""The cost extension's customData and the personal messages as the 2.0.1 station receives them: the `ocpp`
library rewrites every key inside customData (camelCase to snake_case, case lost), and back ends spell
the keys in any case, so the triggers are read whatever the keys look like."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

from firmware.ocpp.common.cost_triggers import CostTriggers
from firmware.ocpp.common.timefmt import parse_ocpp_time
from firmware.ocpp.v201.tariff_cost import COST_VENDOR, QR_VENDOR, cost_triggers, message_texts, qr_code

AT_TIME = "2030-06-01T12:05:00.000Z"


def spelled(name: str, flips: list[bool], underscores: list[bool]) -> str:
    """`name` with letters' case flipped and underscores put between letters where the lists say."""
    out = []
    for i, char in enumerate(name):
        if i and underscores[i % len(underscores)] and char.isalpha():
            out.append("_")
        out.append(char.swapcase() if flips[i % len(flips)] else char)
    return "".join(out)


@given(flips=st.lists(st.booleans(), min_size=1, max_size=12),
       underscores=st.lists(st.booleans(), min_size=1, max_size=12),
       energy=st.floats(0.001, 1000.0), power=st.floats(0.1, 350.0),
       statuses=st.lists(st.sampled_from(["Charging", "SuspendedEV", "SuspendedEVSE", "Idle"]), max_size=3),
       through_library=st.booleans())
def test_triggers_are_read_whatever_the_keys_case(flips: list[bool], underscores: list[bool], energy: float,
                                                  power: float, statuses: list[str],
                                                  through_library: bool) -> None:
    def key(name: str) -> str:
        return spelled(name, flips, underscores)

    custom: dict[str, Any] = {"vendorId": COST_VENDOR, key("triggerMeterValue"): {
        key("atTime"): AT_TIME, key("atEnergykWh"): energy, key("atPowerkW"): power,
        key("atCPStatus"): statuses}}
    if through_library:  # the CSMS side sends camelCase, the station side gets snake_case
        custom = camel_to_snake_case(snake_to_camel_case(custom))
    assert cost_triggers(custom) == CostTriggers(parse_ocpp_time(AT_TIME), energy, power, frozenset(statuses))


def test_other_vendors_and_shapes_arm_nothing() -> None:
    assert cost_triggers(None) is None
    assert cost_triggers({"vendorId": "com.example", "triggerMeterValue": {"atEnergykWh": 1}}) is None
    assert cost_triggers({"vendor_id": COST_VENDOR, "trigger_meter_value": "soon"}) is None
    assert cost_triggers({"vendor_id": COST_VENDOR}) is None
    assert qr_code(camel_to_snake_case({"vendorId": QR_VENDOR, "qrCodeText": "https://x.example"})) \
        == "https://x.example"
    assert qr_code({"vendorId": COST_VENDOR, "qrCodeText": "https://x.example"}) is None


@given(content=st.text(min_size=1, max_size=40).filter(lambda t: t.strip() and "<" not in t),
       language=st.one_of(st.none(), st.sampled_from(["de", "de-CH", "FR", "nl-BE"])))
def test_personal_message_texts(content: str, language: str | None) -> None:
    message = {"format": "UTF8", "content": content, **({"language": language} if language else {})}
    expected = (language.split("-")[0].lower() if language else "en")
    assert message_texts(message, "en") == {expected: content}
    assert message_texts({"format": "HTML", "content": f"<p>{content}</p>"}, "en") == {"en": content.strip()}
    assert message_texts({"format": "UTF8", "content": "  "}, "en") == {}
    assert message_texts(None, "en") == {}
