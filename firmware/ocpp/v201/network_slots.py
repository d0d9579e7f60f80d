"""OCPP 2.0.1 network connection profiles (B09/B10, A05): where each connection attempt goes.
Facts: docs/reference/ocpp201.md §5.1; behaviour: docs/ocpp201.md "Network connection profiles".

Slot 1 is the `[ocpp]` section of the configuration file; slots 2 and 3 hold what the CSMS stored with
SetNetworkProfile (table `ocpp201_network_profiles`, kept across reboots). The station tries the slots in
the order OCPPCommCtrlr.NetworkConfigurationPriority had at boot (a change needs a reboot, B10):
NetworkProfileConnectionAttempts failed attempts on one slot move on to the next at once; after the last
slot the list starts over with the usual backoff, forever (B10.FR.03/08/09). After a reboot and after a
lost connection the first entry is tried first (B10.FR.04). Every connection boots anew (B10.FR.10).

A connection that succeeds through a slot with a higher security profile than SecurityCtrlr.SecurityProfile
raises SecurityProfile to it, deletes the slots with a lower profile and takes them out of the priority
list (A05.FR.05/06); slot 1 is then retired rather than deleted. A technician who edits the `[ocpp]`
section (URL or security profile) brings slot 1 back, first in the list, with its profile: the file wins.

Slot 1 keeps the link security's own rules (tls_url for profile 2 and 3, trust anchors, client
certificate); a stored slot's URL is the CSMS URL the station identity is appended to (P4 §3.1.1), with
the scheme its profile needs (ws:// for 0 and 1, wss:// for 2 and 3).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from firmware.ocpp.common.keystore import ConfigurationStore
from firmware.ocpp.common.link_security import KEY as SECURITY_PROFILE
from firmware.ocpp.common.link_security import LinkSecurity, LinkTarget
from firmware.ocpp.settings import OcppSettings
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.security.events import SecurityEventType, SecurityLog
from firmware.storage.database import StateDatabase
from firmware.storage.key_values import KeyValues

log = logging.getLogger(__name__)

PRIORITY = "OCPPCommCtrlr.NetworkConfigurationPriority"
ATTEMPTS = "OCPPCommCtrlr.NetworkProfileConnectionAttempts"
FILE_SLOT = 1
STORED_SLOTS = (2, 3)


@dataclass(frozen=True, slots=True)
class StoredProfile:
    """A connection profile the CSMS stored in a slot (SetNetworkProfile's connectionData)."""

    slot: int
    url: str  # the CSMS URL, without the station identity
    security_profile: int
    message_timeout: int  # s
    interface: str  # OCPPInterfaceEnumType; the operating system's routing chooses the interface here


def required_scheme(security_profile: int) -> str:
    """The websocket scheme a security profile runs on (A00: TLS from profile 2 on)."""
    return "wss" if security_profile >= 2 else "ws"


class NetworkSlots:
    """The connection profiles and the order they are tried in; the link's `LinkSecurityPort`."""

    def __init__(self, settings: OcppSettings, db: StateDatabase, model: DeviceModel,
                 keys: ConfigurationStore, security: LinkSecurity, events: SecurityLog) -> None:
        self._settings = settings
        self._db = db
        self._model = model
        self._keys = keys
        self._security = security
        self._events = events
        db.execute("CREATE TABLE IF NOT EXISTS ocpp201_network_profiles (slot INTEGER PRIMARY KEY, "
                   "url TEXT NOT NULL, security_profile INTEGER NOT NULL, message_timeout INTEGER NOT NULL, "
                   "interface TEXT NOT NULL)")
        self._kept = KeyValues(db, "ocpp201_network_state")
        self._stored = {row[0]: StoredProfile(*row) for row in db.execute(
            "SELECT slot, url, security_profile, message_timeout, interface FROM ocpp201_network_profiles")}
        fingerprint = f"{settings.url} {settings.tls_url} {settings.security_profile}"
        self._file_retired = self._kept.get("file_retired") == "true"
        if self._kept.get("file") != fingerprint:
            # First start, or a technician edited the [ocpp] section: slot 1 is back, first, with its profile.
            if self._kept.get("file") is not None:
                log.warning("the [ocpp] section changed: network profile slot 1 first, security profile %d",
                            settings.security_profile)
            keys.set_value(SECURITY_PROFILE, str(settings.security_profile))
            self._file_retired = False
            with db:
                self._kept.set("file_retired", None)
                self._kept.set("file", fingerprint)
            rest = [slot for slot in self._priority_setting() if slot != FILE_SLOT]
            self._store_priority([FILE_SLOT, *rest])
        model.guard(PRIORITY, self._priority_refusal)
        # The order of this boot: the entries that hold a profile (a preset may name an empty slot).
        self._order = [slot for slot in self._priority_setting() if self.configured(slot)] or [FILE_SLOT]
        self._index = 0
        self._attempts = 0
        self._was_up = False
        self.active = self._order[0]  # OCPPCommCtrlr.ActiveNetworkProfile: the slot of the latest attempt

    # --- the profiles --------------------------------------------------------------------------------
    def _priority_setting(self) -> list[int]:
        return [int(entry) for entry in self._model.members(PRIORITY)]

    def _store_priority(self, slots: list[int]) -> None:
        self._model.store(self._model.resolve_text(PRIORITY), ",".join(str(slot) for slot in slots))

    def configured(self, slot: int) -> bool:
        """Does `slot` hold a connection profile the station may use?"""
        return slot in self._stored if slot != FILE_SLOT else not self._file_retired

    def stored(self, slot: int) -> StoredProfile | None:
        return self._stored.get(slot)

    def security_profile_of(self, slot: int) -> int:
        stored = self._stored.get(slot)
        return stored.security_profile if stored is not None else self._settings.security_profile

    def endpoint_of(self, slot: int) -> str:
        stored = self._stored.get(slot)
        if stored is None:
            return self._security.endpoint(self._settings.security_profile)
        return stored.url.rstrip("/") + "/" + self._settings.charge_point_id

    @property
    def endpoint(self) -> str:
        """The endpoint of the active slot (status, logs)."""
        return self.endpoint_of(self.active)

    @property
    def message_timeout(self) -> float:
        """How long a message sent through the active slot waits for its answer."""
        stored = self._stored.get(self.active)
        return float(stored.message_timeout) if stored is not None else self._settings.response_timeout_s

    def store(self, profile: StoredProfile) -> None:
        """Keep a profile the CSMS sent (SetNetworkProfile); raises sqlite3.Error when it cannot be kept."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO ocpp201_network_profiles (slot, url, security_profile, "
                             "message_timeout, interface) VALUES (?, ?, ?, ?, ?)",
                             (profile.slot, profile.url, profile.security_profile, profile.message_timeout,
                              profile.interface))
        self._stored[profile.slot] = profile
        log.warning("network profile slot %d stored: %s, security profile %d", profile.slot, profile.url,
                    profile.security_profile)

    def _priority_refusal(self, value: str) -> str | None:
        slots = [int(entry) for entry in value.split(",") if entry]
        if len(set(slots)) != len(slots):
            return "a slot is listed twice"
        empty = [slot for slot in slots if not self.configured(slot)]
        if empty:
            return f"slot {empty[0]} holds no network connection profile"
        return None

    # --- the link's questions ------------------------------------------------------------------------
    def target(self) -> LinkTarget:
        if self._was_up:  # the connection was lost: start over with the first entry
            self._was_up = False
            self._index = self._attempts = 0
        self.active = slot = self._order[self._index]
        profile = self.security_profile_of(slot)
        endpoint = self.endpoint_of(slot)
        context = self._security.ssl_context(profile) if endpoint.startswith("wss://") else None
        return LinkTarget(endpoint, profile, context)

    def link_up(self) -> None:
        self._security.link_up()
        self._was_up = True
        profile = self.security_profile_of(self.active)
        if profile > self._keys.get_int(SECURITY_PROFILE):
            self._raise_security_profile(profile)

    def link_failed(self, exc: BaseException) -> bool:
        """Count a failed attempt on the active slot; True to try again at once (another slot, a fallback)."""
        immediate = self._security.link_failed(exc, self.endpoint)
        self._attempts += 1
        if self._attempts < max(1, self._model.integer(ATTEMPTS)) or len(self._order) == 1:
            return immediate
        failed = self.active
        self._attempts = 0
        self._index = (self._index + 1) % len(self._order)
        log.warning("network profile slot %d failed %d times: trying slot %d", failed,
                    self._model.integer(ATTEMPTS), self._order[self._index])
        return immediate or self._index != 0  # the list starts over with the usual backoff

    def _raise_security_profile(self, profile: int) -> None:
        """A05.FR.05/06: the connection through a higher profile worked; the lower ones go."""
        previous = self._keys.get_int(SECURITY_PROFILE)
        lower = sorted(slot for slot, stored in self._stored.items() if stored.security_profile < profile)
        try:
            with self._db:
                for slot in lower:
                    self._db.execute("DELETE FROM ocpp201_network_profiles WHERE slot = ?", (slot,))
                if self._settings.security_profile < profile:
                    self._kept.set("file_retired", "true")
        except sqlite3.Error as exc:  # nothing changed: the next connection through this slot tries again
            log.error("cannot remove the network profiles below security profile %d: %s", profile, exc)
            return
        self._keys.set_value(SECURITY_PROFILE, str(profile))
        for slot in lower:
            del self._stored[slot]
        if self._settings.security_profile < profile:
            self._file_retired = True
            lower.insert(0, FILE_SLOT)
        self._order = [slot for slot in self._order if self.configured(slot)]
        self._index = self._order.index(self.active)
        kept = [slot for slot in self._priority_setting() if self.configured(slot)]
        self._store_priority(kept or [self.active])
        removed = ", ".join(str(slot) for slot in lower) or "none"
        self._events.record(SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                            f"SecurityProfile {previous} -> {profile} (connected through network profile "
                            f"slot {self.active}); slots with a lower profile removed: {removed}")
        log.warning("security profile %d in effect (was %d): network profile slots removed: %s", profile,
                    previous, removed)
