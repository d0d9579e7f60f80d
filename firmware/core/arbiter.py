"""The current arbiter: the offered current is the minimum of every named limit source.

Pure bookkeeping, no I/O: the connector controller owns one per connector and applies the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    amps: float
    reason: str  # the source that set the minimum


def resolve(limits: Mapping[str, float]) -> Decision:
    """Minimum over all sources; on a tie the first source in the mapping's order is named."""
    if not limits:
        raise ValueError("the arbiter needs at least one limit source")
    reason = min(limits, key=lambda name: limits[name])
    return Decision(limits[reason], reason)


class CurrentArbiter:
    def __init__(self, base: Mapping[str, float]) -> None:
        self._limits: dict[str, float] = {}
        for name, amps in base.items():
            self.set(name, amps)

    def set(self, source: str, amps: float | None) -> bool:
        """Set or (None) clear a source. Returns whether anything changed."""
        if amps is None:
            return self._limits.pop(source, None) is not None
        if math.isnan(amps) or amps < 0:
            raise ValueError(f"limit {source}: {amps} A is not a valid current")
        changed = self._limits.get(source) != amps
        self._limits[source] = float(amps)
        return changed

    def get(self, source: str) -> float | None:
        return self._limits.get(source)

    @property
    def limits(self) -> dict[str, float]:
        return dict(self._limits)

    def decide(self) -> Decision:
        return resolve(self._limits)
