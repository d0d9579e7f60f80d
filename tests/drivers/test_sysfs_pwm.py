"""The sysfs hardware-PWM CP generator against a fake /sys/class/pwm tree that enforces the kernel's
rules (duty_cycle <= period, polarity only while disabled) and creates pwmN on export."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hal.clock import SimClock
from hal.contract import HalError
from hal.pilot.output import PilotGenerator, SysfsPwmLine
from hal.pilot.sysfs_pwm import SysfsPwm, find_chip
from hal.types import PILOT_F, PILOT_HIGH, PILOT_OFF, PilotOutput


class KernelPwm(SysfsPwm):
    """Applies each write as the kernel would, refusing what the kernel refuses (EINVAL)."""

    writes: list[tuple[str, str]]

    def _write(self, path: Path, value: str) -> None:
        self.writes = getattr(self, "writes", [])
        self.writes.append((path.name, value))
        if path.name == "export":
            channel = path.parent / f"pwm{value}"
            channel.mkdir()
            for name, initial in (
                ("period", "0"),
                ("duty_cycle", "0"),
                ("enable", "0"),
                ("polarity", "normal"),
            ):
                (channel / name).write_text(initial)
            return
        if path.name == "unexport":
            return
        attrs = {p.name: p.read_text() for p in path.parent.iterdir()}
        if path.name == "duty_cycle" and int(value) > int(attrs["period"]):
            raise HalError(f"writing {value!r} to {path} failed: Invalid argument")
        if path.name == "period" and int(attrs["duty_cycle"]) > int(value):
            raise HalError(f"writing {value!r} to {path} failed: Invalid argument")
        if path.name == "polarity" and attrs["enable"] == "1":
            raise HalError(f"writing {value!r} to {path} failed: Device or resource busy")
        path.write_text(value)


def make_tree(root: Path, chips: dict[int, int]) -> None:
    for number, npwm in chips.items():
        chip = root / f"pwmchip{number}"
        chip.mkdir(parents=True)
        (chip / "npwm").write_text(f"{npwm}\n")
        (chip / "export").write_text("")
        (chip / "unexport").write_text("")


def attr(root: Path, chip: int, channel: int, name: str) -> str:
    return (root / f"pwmchip{chip}" / f"pwm{channel}" / name).read_text()


def test_chip_discovery(tmp_path: Path) -> None:
    make_tree(tmp_path, {0: 2, 2: 4})
    assert find_chip(tmp_path, 1).name == "pwmchip0"
    assert find_chip(tmp_path, 3).name == "pwmchip2"  # Pi 5 (RP1): channels 2/3 are GPIO18/19
    with pytest.raises(HalError, match="dtoverlay=pwm"):
        find_chip(tmp_path, 5)


async def test_export_setup_and_duty_in_nanoseconds(tmp_path: Path) -> None:
    make_tree(tmp_path, {0: 2})
    pwm = KernelPwm(SimClock(), channel=0, root=tmp_path)
    generator = PilotGenerator(SysfsPwmLine(pwm))
    await generator.open()
    assert attr(tmp_path, 0, 0, "period") == "1000000"
    assert generator.output == PILOT_OFF and attr(tmp_path, 0, 0, "duty_cycle") == "0"
    generator.set_output(PilotOutput.pwm(16 / 0.6))  # 16 A
    assert attr(tmp_path, 0, 0, "duty_cycle") == "266666"
    assert attr(tmp_path, 0, 0, "enable") == "1"
    assert generator.output.duty_percent == pytest.approx(26.6666)
    assert generator.duty_resolution_percent == pytest.approx(0.0001)
    generator.set_output(PILOT_HIGH)
    assert attr(tmp_path, 0, 0, "duty_cycle") == "1000000"
    generator.set_output(PILOT_F)
    assert attr(tmp_path, 0, 0, "duty_cycle") == "0"
    generator.close()
    assert attr(tmp_path, 0, 0, "enable") == "0"
    assert pwm.writes[-1] == ("unexport", "0")


async def test_stale_state_is_reset_in_the_kernel_order(tmp_path: Path) -> None:
    """A channel left enabled with a long period and duty by a previous run (e.g. 50 Hz, 15 ms duty):
    disable first, duty to 0 before the period shrinks, polarity only while disabled."""
    make_tree(tmp_path, {0: 1})
    channel = tmp_path / "pwmchip0" / "pwm0"
    channel.mkdir()
    for name, value in (
        ("period", "20000000"),
        ("duty_cycle", "15000000"),
        ("enable", "1"),
        ("polarity", "normal"),
    ):
        (channel / name).write_text(value)
    pwm = KernelPwm(SimClock(), channel=0, chip=0, root=tmp_path, inverted=True)
    await pwm.open()
    assert attr(tmp_path, 0, 0, "polarity") == "inversed"
    assert attr(tmp_path, 0, 0, "period") == "1000000"
    assert [w[0] for w in pwm.writes] == ["enable", "duty_cycle", "period", "polarity"]


async def test_export_that_never_appears_is_reported(tmp_path: Path) -> None:
    make_tree(tmp_path, {0: 1})
    clock = SimClock()
    pwm = SysfsPwm(clock, channel=0, root=tmp_path)  # plain files: writing export creates nothing
    task = asyncio.ensure_future(pwm.open())
    await clock.advance(3.0)
    with pytest.raises(HalError, match="did not create"):
        await task


async def test_missing_chip_is_a_clear_error(tmp_path: Path) -> None:
    pwm = SysfsPwm(SimClock(), channel=0, chip=3, root=tmp_path)
    with pytest.raises(HalError, match="pwmchip3 does not exist"):
        await pwm.open()
