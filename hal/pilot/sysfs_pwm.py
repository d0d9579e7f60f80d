"""Linux hardware PWM through sysfs (/sys/class/pwm/pwmchipN/pwmM), the exact-duty CP generator.

Ordering rules of the kernel interface (docs/reference/hardware.md §6.2): `duty_cycle` may never exceed
`period`, so the duty goes to 0 before the period changes; `polarity` can only change while the channel
is disabled. The chip is found at run time (it is pwmchip0 on current kernels, pwmchip2 on older Pi 5
kernels).
"""

from __future__ import annotations

import logging
from pathlib import Path

from hal.clock import Clock
from hal.contract import HalError
from hal.pilot.signal import PWM_PERIOD_NS

log = logging.getLogger(__name__)

SYSFS_PWM_ROOT = Path("/sys/class/pwm")
EXPORT_WAIT_S = 2.0  # udev may need a moment to fix permissions of a freshly exported channel


def find_chip(root: Path, channel: int) -> Path:
    """The first pwmchipN under `root` that has at least channel+1 channels."""
    chips = sorted(root.glob("pwmchip*"), key=lambda p: int(p.name.removeprefix("pwmchip") or 0))
    for chip in chips:
        try:
            npwm = int((chip / "npwm").read_text().strip())
        except (OSError, ValueError):
            continue
        if channel < npwm:
            return chip
    found = ", ".join(c.name for c in chips) or "none"
    raise HalError(
        f"no PWM chip with channel {channel} under {root} (found: {found}); "
        "enable hardware PWM with dtoverlay=pwm or pwm-2chan in /boot/firmware/config.txt"
    )


class SysfsPwm:
    """One hardware PWM channel. All writes are single small sysfs writes (fast enough for safety paths)."""

    def __init__(
        self,
        clock: Clock,
        channel: int,
        chip: int | None = None,
        root: Path = SYSFS_PWM_ROOT,
        period_ns: int = PWM_PERIOD_NS,
        inverted: bool = False,
    ) -> None:
        self._clock = clock
        self._root = root
        self._chip_number = chip
        self.channel = channel
        self.period_ns = period_ns
        self.inverted = inverted
        self._dir: Path | None = None
        self._duty_ns = 0
        self._enabled = False

    @property
    def path(self) -> Path:
        if self._dir is None:
            raise HalError("PWM channel used before start()")
        return self._dir

    async def open(self) -> None:
        chip = (
            find_chip(self._root, self.channel)
            if self._chip_number is None
            else (self._root / f"pwmchip{self._chip_number}")
        )
        if not chip.is_dir():
            raise HalError(f"{chip} does not exist; is dtoverlay=pwm enabled and the chip number right?")
        channel_dir = chip / f"pwm{self.channel}"
        if not channel_dir.is_dir():
            self._write(chip / "export", str(self.channel))
            waited = 0.0
            while not (channel_dir / "enable").exists():
                if waited >= EXPORT_WAIT_S:
                    raise HalError(
                        f"exporting PWM channel {self.channel} of {chip} did not create {channel_dir}"
                    )
                await self._clock.sleep(0.01)
                waited += 0.01
        self._dir = channel_dir
        log.info("hardware PWM on %s, period %d ns", channel_dir, self.period_ns)
        # Disable first: polarity may only change while disabled, and a stale duty may exceed the period.
        self._write(channel_dir / "enable", "0")
        self._enabled = False
        self._write(channel_dir / "duty_cycle", "0")
        self._duty_ns = 0
        self._write(channel_dir / "period", str(self.period_ns))
        polarity = channel_dir / "polarity"
        if polarity.exists():
            self._write(polarity, "inversed" if self.inverted else "normal")
        elif self.inverted:
            raise HalError(
                f"{channel_dir} has no polarity control; set inverted = false and invert in hardware"
            )

    def set_duty_ns(self, duty_ns: int) -> None:
        if not 0 <= duty_ns <= self.period_ns:
            raise ValueError(f"duty {duty_ns} ns outside 0..{self.period_ns}")
        if duty_ns != self._duty_ns:
            self._write(self.path / "duty_cycle", str(duty_ns))
            self._duty_ns = duty_ns
        if not self._enabled:
            self._write(self.path / "enable", "1")
            self._enabled = True

    def disable(self) -> None:
        if self._dir is not None and self._enabled:
            self._write(self._dir / "enable", "0")
            self._enabled = False

    def release(self) -> None:
        """Disable and unexport the channel."""
        if self._dir is None:
            return
        self.disable()
        self._write(self._dir.parent / "unexport", str(self.channel))
        self._dir = None

    def _write(self, path: Path, value: str) -> None:
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as exc:
            raise HalError(f"writing {value!r} to {path} failed: {exc}") from exc
