"""A per-action rate limit on CSMS-initiated CALLs: over the limit a CALL is refused with a CALLERROR.

A CSMS that floods the charger (e.g. TriggerMessage in a loop) must neither queue work without bound nor
starve the rest of the program. Each action has its own token bucket (`burst` requests at once, refilled
at `requests_per_s`), so a flood of one action never refuses another (a RemoteStopTransaction still gets
through a TriggerMessage flood). Actions the charger does not know share one bucket, so a CSMS cannot grow
the table with made-up names. Time comes from the injectable clock's monotonic().
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from pydantic import BaseModel, ConfigDict, Field

OTHER = ""  # the bucket of every action without a handler


class RateLimitSettings(BaseModel):
    """`[ocpp.rate_limit]`: how many CSMS requests of one action the charger answers."""

    model_config = ConfigDict(extra="forbid")

    requests_per_s: float = Field(
        10.0, gt=0,
        description="CSMS requests of one action answered per second, sustained; more get a CALLERROR.")
    burst: int = Field(
        50, ge=1,
        description="CSMS requests of one action answered at once before the rate applies.")


class CallRateLimit:
    def __init__(self, settings: RateLimitSettings, monotonic: Callable[[], float],
                 known_actions: Collection[str] = ()) -> None:
        self._rate = settings.requests_per_s
        self._burst = float(settings.burst)
        self._monotonic = monotonic
        self._known = set(known_actions)
        self._buckets: dict[str, tuple[float, float]] = {}  # action -> (tokens, at)

    def know(self, actions: Collection[str]) -> None:
        """Give these actions buckets of their own (the ones the charger has handlers for)."""
        self._known.update(actions)

    def allow(self, action: str) -> bool:
        """Take one request of `action` from its bucket; False if the bucket is empty (refuse it)."""
        key = action if action in self._known else OTHER
        now = self._monotonic()
        tokens, at = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def describe(self) -> str:
        return f"at most {self._burst:.0f} at once and {self._rate:g}/s"
