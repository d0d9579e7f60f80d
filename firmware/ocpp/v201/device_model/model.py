"""The device model of this installation: the component files instantiated per station / EVSE / connector,
the installer's presets, and what the CSMS wrote, persisted in SQLite (table `ocpp201_variables`).

Value of an attribute = the value the CSMS set with SetVariables (persisted), else the preset from
`[ocpp.device_model]`, else the component file's default (placeholders filled from the installation). A live
variable's value comes from the running charger (`LiveSource`) each time it is read and is never stored.

Get/Set semantics follow OCPP 2.0.1 B05/B06 (docs/reference/ocpp201.md §2.3): unknown component →
UnknownComponent, unknown variable → UnknownVariable, an attribute type the variable lacks →
NotSupportedAttributeType, reading a WriteOnly value or writing a ReadOnly one or a bad value → Rejected,
a change that takes effect after a reset → RebootRequired.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from firmware.ocpp.v201.device_model.definitions import (
    NUMERIC_TYPES,
    AttributeDef,
    AttributeType,
    ComponentDef,
    VariableDef,
)
from firmware.ocpp.v201.device_model.keys import AttributeKey, BadKey, ComponentKey, VariableKey, parse
from firmware.ocpp.v201.device_model.values import BadValue, Characteristics, canonical
from firmware.storage.database import StateDatabase
from hal.pubsub import Subscribers

log = logging.getLogger(__name__)

GetStatus = Literal["Accepted", "Rejected", "UnknownComponent", "UnknownVariable",
                    "NotSupportedAttributeType"]
SetStatus = Literal["Accepted", "Rejected", "UnknownComponent", "UnknownVariable",
                    "NotSupportedAttributeType", "RebootRequired"]
Scalar = bool | int | float | str
Unaddressed = Literal["UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"]
# The running charger's value of a live variable (AvailabilityState, DateTime, Power, ...).
LiveSource = Callable[[VariableKey], str]
# Decides on a valid new value before it is stored: None lets it through, a text refuses it (the reason).
Guard = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class EvseInstallation:
    id: int
    values: Mapping[str, str]  # placeholders of EVSE-scoped components (over the station's)
    features: frozenset[str]  # hardware the EVSE has: rcm, temperature, token_reader, lock
    connectors: tuple[int, ...] = (1,)


@dataclass(frozen=True, slots=True)
class Installation:
    """What the component files' placeholders and `when` conditions are filled from."""

    values: Mapping[str, str]
    evses: tuple[EvseInstallation, ...]


@dataclass(frozen=True, slots=True)
class Variable:
    key: VariableKey
    definition: VariableDef
    characteristics: Characteristics

    @property
    def attributes(self) -> tuple[AttributeDef, ...]:
        return self.definition.attributes


@dataclass(frozen=True, slots=True)
class GetResult:
    status: GetStatus
    value: str | None = None


@dataclass(frozen=True, slots=True)
class SetResult:
    status: SetStatus
    reason: str | None = None


def _fill(text: str, values: Mapping[str, str], where: str) -> str:
    try:
        return text.format_map(values)
    except KeyError as exc:
        raise ValueError(f"{where}: the installation has no value for {{{exc.args[0]}}}") from None


def _limit(raw: float | str | None, values: Mapping[str, str], where: str) -> float | None:
    if raw is None or isinstance(raw, float):
        return raw
    return float(_fill(raw, values, where))


@dataclass
class _Slot:
    variable: Variable
    attribute: AttributeDef
    value: str | None = None


@dataclass
class DeviceModel:
    db: StateDatabase | None  # None: a model only for checking presets (`check_presets`)
    live: LiveSource
    _slots: dict[AttributeKey, _Slot] = field(default_factory=dict)
    _variables: dict[VariableKey, Variable] = field(default_factory=dict)
    _components: dict[ComponentKey, ComponentDef] = field(default_factory=dict)
    _guards: dict[AttributeKey, Guard] = field(default_factory=dict)
    # Accepted SetVariables (key, value), by the one publish/subscribe rule (hal/pubsub.py).
    _changes: Subscribers[tuple[AttributeKey, str]] = field(
        default_factory=lambda: Subscribers("device model changes"))

    @classmethod
    def build(cls, definitions: Iterable[ComponentDef], installation: Installation, db: StateDatabase | None,
              presets: Mapping[str, Scalar], live: LiveSource) -> DeviceModel:
        model = cls(db, live)
        for definition in definitions:
            for ckey, values in _instances(definition, installation):
                model._add(definition, ckey, values)
        model._apply_presets(presets)
        if db is None:
            return model
        db.execute("CREATE TABLE IF NOT EXISTS ocpp201_variables (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        by_text = {key.text(): key for key in model._slots}
        for text, value in db.execute("SELECT key, value FROM ocpp201_variables").fetchall():
            key = by_text.get(text)
            if key is not None and model._slots[key].attribute.mutability != "ReadOnly":
                model._slots[key].value = value
        return model

    def _add(self, definition: ComponentDef, ckey: ComponentKey, values: Mapping[str, str]) -> None:
        self._components[ckey] = definition
        for vdef in definition.variables:
            where = f"{definition.source} {vdef.label}"
            characteristics = Characteristics(
                vdef.data_type, vdef.unit, _limit(vdef.min_limit, values, where),
                _limit(vdef.max_limit, values, where), vdef.values_list, vdef.pattern)
            variable = Variable(VariableKey(ckey, vdef.name, vdef.instance), vdef, characteristics)
            self._variables[variable.key] = variable
            for attribute in vdef.attributes:
                value = None
                if attribute.value is not None:
                    value = _fill(attribute.value, values, where)
                    if value != "" or vdef.data_type in NUMERIC_TYPES:
                        try:
                            value = canonical(value, characteristics)
                        except BadValue as exc:
                            raise ValueError(f"{where}: default {value!r} {exc}") from None
                self._slots[AttributeKey(variable.key, attribute.type)] = _Slot(variable, attribute, value)

    # --- presets -------------------------------------------------------------------------------------
    def resolve_text(self, text: str) -> AttributeKey:
        """The attribute a `[ocpp.device_model]` key names (any case); ValueError if none."""
        key = parse(text)
        if key in self._slots:
            return key
        wanted = key.text().lower()
        for candidate in self._slots:
            if candidate.text().lower() == wanted:
                return candidate
        raise BadKey(f"{text}: no such variable in this charger's device model")

    def _apply_presets(self, presets: Mapping[str, Scalar]) -> None:
        problems = []
        for text, raw in presets.items():
            try:
                key = self.resolve_text(text)
                slot = self._slots[key]
                if slot.variable.definition.live:
                    raise ValueError("a live value, set by the charger itself")
                if slot.attribute.mutability == "ReadOnly" and not slot.variable.definition.preset:
                    raise ValueError("ReadOnly, cannot be preset")
                if slot.attribute.mutability == "WriteOnly":
                    raise ValueError("WriteOnly: a credential, kept in secrets.toml (see docs/ocpp201.md)")
                slot.value = canonical(_scalar_text(raw), slot.variable.characteristics)
            except (ValueError, BadValue) as exc:
                problems.append(f"ocpp.device_model.\"{text}\" = {raw!r}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))

    # --- lookups -------------------------------------------------------------------------------------
    @property
    def variables(self) -> list[Variable]:
        return list(self._variables.values())

    def component_keys(self) -> list[ComponentKey]:
        return list(self._components)

    def attribute_keys(self) -> list[AttributeKey]:
        return list(self._slots)

    def find(self, component: ComponentKey, variable: str,
             instance: str | None) -> Variable | Literal["UnknownComponent", "UnknownVariable"]:
        if component not in self._components:
            return "UnknownComponent"
        found = self._variables.get(VariableKey(component, variable, instance))
        return found if found is not None else "UnknownVariable"

    def read(self, key: AttributeKey) -> str | None:
        """The current value of an attribute (None: WriteOnly or never set)."""
        slot = self._slots[key]
        if slot.attribute.mutability == "WriteOnly":
            return None
        if slot.variable.definition.live and slot.attribute.type == "Actual":
            return self.live(key.variable)
        return slot.value

    # --- the charger's own reads (spec text keys, e.g. "OCPPCommCtrlr.HeartbeatInterval") ---------------
    def secret(self, text: str) -> str | None:
        """A WriteOnly value (BasicAuthPassword) for the charger itself; never reported."""
        return self._slots[self.resolve_text(text)].value

    def text(self, key: str) -> str:
        value = self.read(self.resolve_text(key))
        return value if value is not None else ""

    def integer(self, key: str) -> int:
        return int(self.text(key))

    def flag(self, key: str) -> bool:
        return self.text(key) == "true"

    def values_list(self, key: str) -> tuple[str, ...]:
        """The valuesList characteristic of a variable (empty when it has none)."""
        return self._slots[self.resolve_text(key)].variable.characteristics.values_list

    def members(self, key: str) -> list[str]:
        value = self.text(key)
        return value.split(",") if value else []

    # --- GetVariables / SetVariables -----------------------------------------------------------------
    def _addressed(self, component: ComponentKey, variable: str, instance: str | None,
                   attribute: AttributeType) -> tuple[AttributeKey, _Slot] | Unaddressed:
        found = self.find(component, variable, instance)
        if isinstance(found, str):
            return found
        key = AttributeKey(found.key, attribute)
        slot = self._slots.get(key)
        return (key, slot) if slot is not None else "NotSupportedAttributeType"

    def get(self, component: ComponentKey, variable: str, instance: str | None,
            attribute: AttributeType = "Actual") -> GetResult:
        found = self._addressed(component, variable, instance, attribute)
        if isinstance(found, str):
            return GetResult(found)
        key, slot = found
        if slot.attribute.mutability == "WriteOnly":
            return GetResult("Rejected")  # B06.FR.09
        value = self.read(key)
        return GetResult("Accepted", "" if value is None else value)  # B06.FR.13: unset → ""

    def set(self, component: ComponentKey, variable: str, instance: str | None, value: str,
            attribute: AttributeType = "Actual") -> SetResult:
        addressed = self._addressed(component, variable, instance, attribute)
        if isinstance(addressed, str):
            return SetResult(addressed)
        key, slot = addressed
        found = slot.variable
        if slot.attribute.mutability == "ReadOnly":
            return SetResult("Rejected", "ReadOnly")  # B05.FR.09
        try:
            new = canonical(value, found.characteristics)
        except BadValue as exc:
            return SetResult("Rejected", str(exc))  # B05.FR.07/08
        guard = self._guards.get(key)
        refusal = guard(new) if guard is not None else None
        if refusal is not None:
            return SetResult("Rejected", refusal)
        self.store(key, new)
        shown = "(write-only)" if slot.attribute.mutability == "WriteOnly" else repr(new)
        log.info("device model: %s = %s (CSMS)", key.text(), shown)
        self._changes.publish((key, new))
        return SetResult("RebootRequired" if found.definition.reboot_required else "Accepted")

    def store(self, key: AttributeKey, value: str) -> None:
        """Persist a value (SetVariables, or a value the charger itself decided, e.g. after A05)."""
        self._slots[key].value = value
        if self.db is not None:
            self.db.execute("INSERT OR REPLACE INTO ocpp201_variables (key, value) VALUES (?, ?)",
                            (key.text(), value))

    def guard(self, text: str, guard: Guard) -> None:
        self._guards[self.resolve_text(text)] = guard

    def on_change(self, listener: Callable[[AttributeKey, str], None]) -> None:
        """Call `listener(key, value)` after every accepted SetVariables, in the setting thread; a listener
        that raises is logged and does not keep the change from the others."""
        self._changes.subscribe(lambda change: listener(*change))


def _scalar_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _instances(definition: ComponentDef,
               installation: Installation) -> Iterable[tuple[ComponentKey, Mapping[str, str]]]:
    if definition.scope == "station":
        if definition.when is None:
            yield ComponentKey(definition.name, definition.instance), installation.values
        return
    for evse in installation.evses:
        if definition.when is not None and definition.when not in evse.features:
            continue
        values = {**installation.values, **evse.values}
        if definition.scope == "evse":
            yield ComponentKey(definition.name, definition.instance, evse.id), values
        else:
            for connector in evse.connectors:
                yield ComponentKey(definition.name, definition.instance, evse.id, connector), values



def check_presets(definitions: Iterable[ComponentDef], installation: Installation,
                  presets: Mapping[str, Scalar]) -> None:
    """ValueError naming every `[ocpp.device_model]` entry this installation does not take."""
    DeviceModel.build(definitions, installation, None, presets, _no_live)


def _no_live(key: VariableKey) -> str:
    raise AssertionError(f"{key.text()}: a preset check reads no live value")
