"""Values of device-model variables: every dataType's check and canonical text (OCPP 2.0.1 Part 2,
DataEnumType and VariableCharacteristicsType; docs/reference/ocpp201.md §2.3).

Values travel as strings. A value outside minLimit/maxLimit, not in valuesList, or not of the dataType is
refused with a reason (SetVariables answers Rejected, B05.FR.07/08). For string and list types maxLimit is the
maximum length of the (CSV) string.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from firmware.ocpp.v201.device_model.definitions import DataType


@dataclass(frozen=True, slots=True)
class Characteristics:
    """A variable's characteristics for this installation (placeholders resolved)."""

    data_type: DataType
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: tuple[str, ...] = ()
    pattern: str | None = None

    def wire(self) -> dict[str, object]:
        """VariableCharacteristicsType (snake_case keys, as the `ocpp` library's dataclasses take them)."""
        out: dict[str, object] = {"data_type": self.data_type, "supports_monitoring": False}
        if self.unit:
            out["unit"] = self.unit
        if self.min_limit is not None:
            out["min_limit"] = _number(self.min_limit)
        if self.max_limit is not None:
            out["max_limit"] = _number(self.max_limit)
        if self.values_list:
            out["values_list"] = ",".join(self.values_list)
        return out


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


class BadValue(ValueError):
    """A value the variable does not take; the message says what it takes."""


def _within(number: float, c: Characteristics) -> None:
    if c.min_limit is not None and number < c.min_limit:
        raise BadValue(f"below the minimum {_number(c.min_limit)}")
    if c.max_limit is not None and number > c.max_limit:
        raise BadValue(f"above the maximum {_number(c.max_limit)}")


def _length(text: str, c: Characteristics) -> None:
    if c.max_limit is not None and len(text) > c.max_limit:
        raise BadValue(f"longer than {_number(c.max_limit)} characters")


def _items(text: str, c: Characteristics) -> list[str]:
    items = [item.strip() for item in text.split(",")] if text.strip() else []
    if any(not item for item in items):
        raise BadValue("an empty list element")
    outside = [item for item in items if item not in c.values_list]
    if outside:
        raise BadValue(f"{', '.join(outside)} not in {','.join(c.values_list)}")
    if len(set(items)) != len(items):
        raise BadValue("an element twice")
    return items


def canonical(text: str, c: Characteristics) -> str:
    """The canonical form of `text` for these characteristics; BadValue if it is not a valid value."""
    kind = c.data_type
    if kind == "integer":
        stripped = text.strip()
        if not re.fullmatch(r"[+-]?\d+", stripped):
            raise BadValue("not an integer")
        _within(int(stripped), c)
        return str(int(stripped))
    if kind == "decimal":
        try:
            number = float(text)
        except ValueError:
            raise BadValue("not a decimal number") from None
        if not math.isfinite(number):
            raise BadValue("not a finite number")
        _within(number, c)
        return str(_number(number))
    if kind == "boolean":
        low = text.strip().lower()
        if low not in ("true", "false"):
            raise BadValue("not true or false")
        return low
    if kind == "dateTime":
        try:
            datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise BadValue("not an RFC 3339 date-time") from None
        return text.strip()
    if kind == "OptionList":
        if text not in c.values_list:
            raise BadValue(f"not one of {','.join(c.values_list)}")
        return text
    if kind in ("MemberList", "SequenceList"):
        joined = ",".join(_items(text, c))
        _length(joined, c)
        return joined
    _length(text, c)
    if c.pattern is not None and not re.fullmatch(c.pattern, text):
        raise BadValue(f"does not match {c.pattern}")
    return text

