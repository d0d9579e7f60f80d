"""Simulated contactor with a mirror contact; the connector's physics decides where the contacts are."""

from __future__ import annotations

from collections.abc import Callable

from hal.contract import Unsubscribe
from hal.fake.world import ConnectorWorld
from hal.pubsub import Notification, Watched


class SimulatedContactor:
    """Commanded state changes at once; the contacts and the mirror contact follow immediately.

    main=True: the connector's main contactor, subject to the "welded" and "feedback-missing" faults
    (see ConnectorWorld). main=False: the 1-/3-phase switch contactor, which decides whether L2/L3
    reach the socket.

    As in the HAL contract, `close()` pulls the contactor in; `stop()` ends the lifecycle.
    """

    def __init__(self, world: ConnectorWorld, *, main: bool) -> None:
        self._world = world
        self._main = main
        self._feedback: Watched[bool] = Watched(False, "simulated contactor feedback")
        world.watch(self._check)

    def _contacts(self) -> bool:
        world = self._world
        return world.main_contacts_closed if self._main else world.phase_switch_closed

    def _check(self) -> list[Notification]:
        return self._feedback.update(self._contacts())

    async def start(self) -> None:
        self._world.remember_loop()

    async def stop(self) -> None:
        self.open()

    def close(self) -> None:
        self._command(True)

    def open(self) -> None:
        self._command(False)

    def _command(self, closed: bool) -> None:
        world = self._world

        def apply() -> None:
            if self._main:
                world.main_commanded = closed
            else:
                world.phase_switch_closed = closed

        world.change(apply)

    @property
    def commanded_closed(self) -> bool:
        return self._world.main_commanded if self._main else self._world.phase_switch_closed

    @property
    def feedback_closed(self) -> bool | None:
        with self._world.lock:
            return self._contacts()

    def subscribe_feedback(self, callback: Callable[[bool], None]) -> Unsubscribe:
        return self._feedback.subscribers.subscribe(callback)
