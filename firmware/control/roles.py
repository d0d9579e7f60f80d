"""Local roles on the control socket, decided by the kernel's credentials of the connecting process.

Roles: `read-only` (status, session records; idTags hidden), `technician` (limits, OCPP connect and
disconnect, clearing faults; sees idTags), `simulator` (`chargepi sim`, only offered with the fake HAL).
A peer gets a role by being in its Unix group (`[control]` group names); root and the service's own user
have every role. Technician and simulator include read-only. The groups come from SO_PEERGROUPS, the
supplementary groups the kernel recorded for the peer when it connected (plus its SO_PEERCRED gid): no
/proc lookup (the service runs with ProtectProc=invisible) and no user database, so they are exactly the
groups the client process had.
"""

from __future__ import annotations

import errno
import grp
import logging
import os
import socket
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from firmware.redaction import MASK

log = logging.getLogger(__name__)

SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # Linux >= 4.13; Python does not name it
_GID = struct.Struct("I")
_ID_TAG_FIELDS = frozenset({"id_tag", "parent_id_tag", "start_id_tag", "stop_id_tag", "idTag", "parentIdTag",
                            "stopped_by"})


class Role(StrEnum):
    READ_ONLY = "read-only"
    TECHNICIAN = "technician"
    SIMULATOR = "simulator"


EVERY_ROLE = frozenset(Role)


class ControlSettings(BaseModel):
    """`[control]`: which Unix group gives which role on the control socket (see firmware/control/roles.py).
    The socket itself is mode 0660, owned by the service's group: only members can connect at all."""

    model_config = ConfigDict(extra="forbid")

    read_only_group: str = Field(
        "chargepi", min_length=1,
        description="Unix group whose members may read status and sessions (idTags hidden) on the control "
                    "socket.")
    technician_group: str = Field(
        "chargepi-technician", min_length=1,
        description="Members may also set limits, connect/disconnect OCPP, clear faults, and see idTags.")
    simulator_group: str = Field(
        "chargepi-simulator", min_length=1,
        description="Members may also drive the simulation (`chargepi sim`, fake HAL only).")


@dataclass(frozen=True, slots=True)
class Peer:
    pid: int
    uid: int
    gid: int
    groups: frozenset[int]


def peer_of(sock: socket.socket) -> Peer:
    """The credentials the kernel recorded for the process at the other end of a Unix socket."""
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                        struct.calcsize("3i")))
    size = 64
    while True:
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, size * _GID.size)
            break
        except OSError as exc:
            if exc.errno != errno.ERANGE or size >= 65536:
                raise
            size *= 16
    groups = {g for (g,) in _GID.iter_unpack(raw)} | {gid}
    return Peer(pid, uid, gid, frozenset(groups))


class AccessPolicy:
    """Maps a peer to its roles (group names resolved once, at start)."""

    def __init__(self, settings: ControlSettings | None = None, service_uid: int | None = None) -> None:
        self.settings = settings or ControlSettings()
        self.service_uid = os.geteuid() if service_uid is None else service_uid
        self.group_names = {Role.READ_ONLY: self.settings.read_only_group,
                            Role.TECHNICIAN: self.settings.technician_group,
                            Role.SIMULATOR: self.settings.simulator_group}
        self._gids: dict[Role, int] = {}
        for role, name in self.group_names.items():
            try:
                self._gids[role] = grp.getgrnam(name).gr_gid
            except KeyError:
                log.debug("control socket: group %s (role %s) does not exist: only root and the service "
                          "user have that role", name, role)

    def roles_of(self, peer: Peer) -> frozenset[Role]:
        if peer.uid in (0, self.service_uid):
            return EVERY_ROLE
        roles = {role for role, gid in self._gids.items() if gid in peer.groups}
        if roles:
            roles.add(Role.READ_ONLY)
        return frozenset(roles)

    def refusal(self, command: str, needed: Role, have: frozenset[Role]) -> str:
        held = ", ".join(sorted(have)) or "none"
        return (f"'{command}' needs the {needed} role (your roles: {held}): run it as root, or ask for "
                f"membership of group {self.group_names[needed]}")


def without_id_tags(value: Any, tags: frozenset[str] = frozenset()) -> Any:
    """A copy of a reply with every idTag masked: what a read-only caller gets to see. An idTag field's
    value is also masked where it appears in the other texts of the same object (an audit line's message
    says "card 04A1B2C3 presented") and of what it contains."""
    if isinstance(value, list):
        return [without_id_tags(v, tags) for v in value]
    if isinstance(value, dict):
        tags = tags | {str(v) for k, v in value.items() if k in _ID_TAG_FIELDS and v}
        return {k: MASK if k in _ID_TAG_FIELDS and v is not None else without_id_tags(v, tags)
                for k, v in value.items()}
    if isinstance(value, str):
        for tag in sorted(tags, key=len, reverse=True):
            value = value.replace(tag, MASK)
    return value
