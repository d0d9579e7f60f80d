"""The simulated vehicle: what it perceives on the pilot, the state its S2 switch shows, what it draws."""

from __future__ import annotations

from dataclasses import dataclass

from hal.fake.faults import OVERDRAW_FACTOR

EV_STATES = ("B", "C", "D")

# An EV asks for power only when it reads an offer of at least 6 A (docs/reference/hardware.md §1.2, §8).
MIN_OFFER_A = 6.0

# The EV follows a changed pilot within 5 s (docs/reference/hardware.md §2: it must follow a lowered duty
# within 5 s).
MAX_REACTION_S = 5.0


@dataclass
class SimulatedEV:
    """Vehicle-side state. Not thread-safe on its own: the connector's lock guards it.

    `perceived_offer_a` is the pilot offer as the EV has taken it in, `reaction_s` after the pilot changed.
    `forced_state` (set by `set_ev_state`) pins the S2 state until pause/resume/plug/unplug.
    """

    max_current_a: float
    phases: int
    reaction_s: float
    plugged: bool = False
    wants_energy: bool = True
    forced_state: str | None = None
    perceived_offer_a: float | None = None
    state: str = "A"

    def settle(self) -> None:
        """Decide the S2 state from what the EV knows now."""
        if not self.plugged:
            self.state = "A"
        elif self.forced_state is not None:
            self.state = self.forced_state
        elif self.wants_energy and (self.perceived_offer_a or 0.0) >= MIN_OFFER_A:
            self.state = "C"
        else:
            self.state = "B"

    def current_a(self, *, powered: bool, overdraw: bool) -> float:
        """Current per phase: min(offer, own max) while powered in C/D; 1.5 x offer when overdrawing."""
        offer = self.perceived_offer_a
        if not powered or self.state not in ("C", "D") or offer is None:
            return 0.0
        if overdraw:
            return offer * OVERDRAW_FACTOR
        return min(offer, self.max_current_a)
