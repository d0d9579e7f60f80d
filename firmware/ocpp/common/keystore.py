"""A persistent configuration store: typed keys (KeySpec), validation, presets, CSMS changes kept in SQLite.

Version-neutral: a version package defines its keys (OCPP 1.6 configuration keys in
firmware/ocpp/v16/configuration.py; 2.0.1 variables would be its own KeySpecs) and answers its own
Get/Change messages from `ConfigurationStore.report` / `change`. Effective value of a key = the value a
CSMS set (persisted), else the preset from `[ocpp.configuration]`, else the built-in default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from firmware.storage.database import StateDatabase
from hal.pubsub import Subscribers

Kind = Literal["bool", "int", "csl", "str"]
# Never RebootRequired: every supported key takes effect without a restart (WebSocketPingInterval from the
# next connection, AuthorizationKey by reconnecting at once).
ChangeStatus = Literal["Accepted", "Rejected", "NotSupported"]
# Decides on a valid new value of a key before it is stored: Accepted lets the change through.
Guard = Callable[[str], ChangeStatus]

@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    kind: Kind
    default: str
    writable: bool = True
    minimum: int | None = None
    maximum: int | None = None
    allowed: tuple[str, ...] | None = None  # for csl: every element must be one of these
    max_items: int | None = None
    secret: bool = False  # write-only: GetConfiguration names the key but never shows its value
    preset: bool = False  # read-only for the CSMS, but the installer may preset it in [ocpp.configuration]


def normalise(spec: KeySpec, value: str) -> str | None:
    """The canonical string form of `value` for `spec`, or None when the value is invalid."""
    text = value.strip()
    if spec.kind == "bool":
        low = text.lower()
        return low if low in ("true", "false") else None
    if spec.kind == "int":
        try:
            number = int(text)
        except ValueError:
            return None
        if spec.minimum is not None and number < spec.minimum:
            return None
        if spec.maximum is not None and number > spec.maximum:
            return None
        return str(number)
    if spec.kind == "csl":
        items = [item.strip() for item in text.split(",") if item.strip()] if text else []
        if spec.allowed is not None and any(item not in spec.allowed for item in items):
            return None
        if spec.max_items is not None and len(items) > spec.max_items:
            return None
        return ",".join(items)
    if spec.minimum is not None and len(text) < spec.minimum:
        return None
    if spec.maximum is not None and len(text) > spec.maximum:
        return None
    return text


def preset_text(value: bool | int | float | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class ConfigurationStore:
    """Current configuration values, CSMS changes persisted in SQLite (table `ocpp_configuration`)."""

    def __init__(self, db: StateDatabase, keys: dict[str, KeySpec],
                 presets: dict[str, bool | int | float | str]) -> None:
        self._db = db
        self.keys = keys
        db.execute("CREATE TABLE IF NOT EXISTS ocpp_configuration "
                   "(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.commit()
        self._values = {name: spec.default for name, spec in keys.items()}
        for name, raw in presets.items():
            spec = keys.get(name)
            if spec is None:
                raise ValueError(f"ocpp.configuration.{name}: not a configuration key this charger supports "
                                 f"(supported: {', '.join(sorted(keys))})")
            if not spec.writable and not spec.preset:
                raise ValueError(f"ocpp.configuration.{name}: read-only key, cannot be preset")
            value = normalise(spec, preset_text(raw))
            if value is None:
                raise ValueError(f"ocpp.configuration.{name} = {raw!r}: {describe(spec)}")
            self._values[name] = value
        for name, value in db.execute("SELECT key, value FROM ocpp_configuration"):
            if name in keys and keys[name].writable:
                self._values[name] = value
        # Accepted changes (key, canonical value), by the one publish/subscribe rule (hal/pubsub.py).
        self._changes: Subscribers[tuple[str, str]] = Subscribers("configuration changes")
        self._hidden: set[str] = set()
        self._guards: dict[str, Guard] = {}

    def guard(self, name: str, guard: Guard) -> None:
        """Let `guard` accept or refuse every valid ChangeConfiguration of `name`."""
        self._guards[name] = guard

    def set_value(self, name: str, value: str) -> None:
        """Store a value the charger itself decided (no guard, no listeners), e.g. a profile fallback."""
        self._values[name] = value
        self._db.execute("INSERT OR REPLACE INTO ocpp_configuration (key, value) VALUES (?, ?)",
                         (name, value))
        self._db.commit()

    def hide(self, name: str, value: str | None = None) -> None:
        """Take a key out of the CSMS's view (its feature profile is switched off); `value` pins what the
        charger itself reads from then on."""
        self._hidden.add(name)
        if value is not None:
            self._values[name] = value

    def on_change(self, listener: Callable[[str, str], None]) -> None:
        """Call `listener(key, value)` after every accepted change, in the changing thread; a listener
        that raises is logged and does not keep the change from the others."""
        self._changes.subscribe(lambda change: listener(*change))

    def get(self, name: str) -> str:
        return self._values[name]

    def get_int(self, name: str) -> int:
        return int(self._values[name])

    def get_bool(self, name: str) -> bool:
        return self._values[name] == "true"

    def get_list(self, name: str) -> list[str]:
        value = self._values[name]
        return value.split(",") if value else []

    def change(self, name: str, value: str) -> ChangeStatus:
        spec = self.keys.get(name)
        if spec is None or name in self._hidden:
            return "NotSupported"
        if not spec.writable:
            return "Rejected"
        canonical = normalise(spec, value)
        if canonical is None:
            return "Rejected"
        guard = self._guards.get(name)
        if guard is not None and (status := guard(canonical)) != "Accepted":
            return status
        self.set_value(name, canonical)
        self._changes.publish((name, canonical))
        return "Accepted"

    def report(self, names: list[str] | None) -> tuple[list[dict[str, object]], list[str]]:
        """GetConfiguration: (configurationKey entries, unknownKey names)."""
        wanted = names if names else [n for n in self.keys if n not in self._hidden]
        known: list[dict[str, object]] = []
        unknown: list[str] = []
        for n in wanted:
            spec = self.keys.get(n)
            if spec is None or n in self._hidden:
                unknown.append(n)
            else:
                entry: dict[str, object] = {"key": n, "readonly": not spec.writable}
                if not spec.secret:
                    entry["value"] = self._values[n]
                known.append(entry)
        return known, unknown


def describe(spec: KeySpec) -> str:
    if spec.kind == "bool":
        return "allowed: true or false"
    if spec.kind == "int":
        return f"allowed: an integer from {spec.minimum} to {spec.maximum}"
    if spec.allowed is not None:
        return f"allowed: a comma-separated list of {', '.join(spec.allowed)}"
    return "allowed: a comma-separated list"
