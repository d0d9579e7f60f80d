"""The safety supervisor on the real GPIO drivers (gpiozero MockFactory): it opens the contactor by itself
on C->B, when the controller's heartbeat stops and when the controller's end of the link goes away. The
test plays the controller with the same remote parts the controller uses."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from firmware.safety.link import Link
from firmware.safety.remote import RemoteContactor, RemoteParts, RemotePilot, RemoteRcm
from firmware.safety.spec import parse_spec, spec_of
from firmware.safety.supervisor import Supervisor, real_parts
from firmware.settings import load_settings
from hal.clock import RealClock
from hal.types import PilotOutput
from tests.drivers.rig import COIL, hardware_rig


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


class Controller:
    """The controller's side: remote parts over the link, a heartbeat thread it can stop."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.remote = RemoteParts(link)
        self.pilot = RemotePilot(self.remote, "1.pilot")
        self.contactor = RemoteContactor(self.remote, "1.contactor")
        self.rcm = RemoteRcm(self.remote, "1.rcm")
        self.beating = threading.Event()
        self.beating.set()
        self._stop = threading.Event()
        threading.Thread(target=self._beat, daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.is_set():
            if self.beating.is_set():
                self.link.send({"op": "hb"})
            time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()


@contextlib.asynccontextmanager
async def supervised(tmp_path: Any, watchdog_s: float = 0.3) -> AsyncIterator[tuple[Any, Supervisor,
                                                                                       Controller, Any]]:
    async with hardware_rig() as rig:
        hal = {k: v for k, v in rig.hal_config().items() if k in ("pilot", "contactor", "rcm")}
        settings = load_settings(None, station={"state_dir": str(tmp_path)},
                                 connectors=[{"id": 1, "hal": {**rig.hal_config(), **hal}}])
        parts = real_parts(parse_spec(spec_of(settings, [])), RealClock(), set())  # as the process gets it
        rig.attach_pilot(parts["1.pilot"])
        for part in parts.values():
            await part.start()
        ours, theirs = Link.pair()
        supervisor = Supervisor(Link(theirs), parts, asyncio.get_running_loop(), ventilation={1: False},
                                watchdog_s=watchdog_s)
        supervisor.attach()
        served = asyncio.ensure_future(asyncio.to_thread(supervisor.serve))
        controller = Controller(ours)
        await asyncio.to_thread(controller.remote.start)
        try:
            yield rig, supervisor, controller, served
        finally:
            controller.close()
            controller.remote.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(served, 5)
            supervisor.shut_down()
            for part in parts.values():
                await part.stop()


async def charge(rig: Any, controller: Controller) -> None:
    result = await controller.rcm.self_test()  # the supervisor closes only after a passed RCM test
    assert result.passed, result.detail
    rig.car_level = 9.0
    await asyncio.to_thread(controller.pilot.set_output, PilotOutput.pwm(53.3))
    rig.car_level = 6.0
    await asyncio.to_thread(wait_until, lambda: controller.pilot.read().state.value == "C", "CP C")
    await asyncio.to_thread(controller.contactor.close)
    coil = rig.pins.pin(COIL)
    await asyncio.to_thread(wait_until, lambda: coil.state, "coil on")


async def test_the_supervisor_refuses_to_close_in_b_and_opens_on_c_to_b(tmp_path):
    async with supervised(tmp_path) as (rig, _, controller, _served):
        coil = rig.pins.pin(COIL)
        assert (await controller.rcm.self_test()).passed
        rig.car_level = 9.0
        await asyncio.to_thread(controller.pilot.set_output, PilotOutput.pwm(53.3))
        await asyncio.to_thread(wait_until, lambda: controller.pilot.read().state.value == "B", "CP B")
        await asyncio.to_thread(controller.contactor.close)  # asked, but the car is not in C
        assert not coil.state and not controller.contactor.commanded_closed
        rig.car_level = 6.0
        await asyncio.to_thread(wait_until, lambda: controller.pilot.read().state.value == "C", "CP C")
        await asyncio.to_thread(controller.contactor.close)
        assert coil.state
        rig.car_level = 9.0  # C -> B: the supervisor opens, nobody asked it to
        await asyncio.to_thread(wait_until, lambda: not coil.state, "coil off after C->B")
        await asyncio.to_thread(wait_until, lambda: not controller.contactor.commanded_closed,
                                "the controller told")


async def test_no_heartbeat_opens_the_contactor(tmp_path):
    async with supervised(tmp_path) as (rig, supervisor, controller, _served):
        await charge(rig, controller)
        controller.beating.clear()  # the controller hangs
        coil = rig.pins.pin(COIL)
        await asyncio.to_thread(wait_until, lambda: not coil.state, "coil off without heartbeat")
        await asyncio.to_thread(wait_until, lambda: supervisor.interlocks[1].last_open_reason is not None,
                                "the reason recorded")
        assert supervisor.interlocks[1].last_open_reason == "controller-watchdog"
        assert supervisor.watchdog_trips == 1


async def test_the_watchdog_is_armed_only_while_the_contactor_is_closed(tmp_path):
    """Idle (every contactor open) the controller sends no heartbeat and nothing trips: a hung controller
    cannot leave power on when none is on. The close request arms the watchdog."""
    async with supervised(tmp_path, watchdog_s=0.05) as (rig, supervisor, controller, _served):
        controller.beating.clear()  # silent from the start, contactor open
        await asyncio.sleep(0.5)  # ten watchdog periods; a slower machine only waits fewer of them
        assert supervisor.watchdog_trips == 0
        assert (await controller.rcm.self_test()).passed
        rig.car_level = 9.0
        await asyncio.to_thread(controller.pilot.set_output, PilotOutput.pwm(53.3))
        rig.car_level = 6.0
        await asyncio.to_thread(wait_until, lambda: controller.pilot.read().state.value == "C", "CP C")
        await asyncio.to_thread(controller.contactor.close)  # the request is a sign of life: it closes
        await asyncio.to_thread(wait_until, lambda: supervisor.watchdog_trips == 1, "the trip")
        assert supervisor.interlocks[1].last_open_reason == "controller-watchdog"
        assert not rig.pins.pin(COIL).state


async def test_the_controller_going_away_opens_the_contactor_and_signals_f(tmp_path):
    async with supervised(tmp_path) as (rig, supervisor, controller, served):
        await charge(rig, controller)
        controller.close()
        controller.remote.stop()  # the controller's end of the link is gone
        reason = await asyncio.wait_for(served, 5)
        assert "closed" in reason
        supervisor.shut_down()
        assert not rig.pins.pin(COIL).state
        assert supervisor.interlocks[1].pilot_output.mode.value == "negative"
