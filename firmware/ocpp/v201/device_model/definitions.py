"""Component definitions: the data files in `components/` (one per component, shaped like the tables of
OCPP 2.0.1 Part 2 "Referenced Components and Variables", docs/reference/ocpp201.md §2) and their loader.

A file is a TOML table:

    name = "OCPPCommCtrlr"          # spec component name
    scope = "station"               # station | evse | connector: instantiated once, per EVSE, per connector
    when = "lock"                   # optional: only where the installation has this hardware feature
    description = "..."

    [[variable]]
    name = "MessageAttempts"        # spec variable name
    instance = "TransactionEvent"   # optional variable instance
    required = true                 # the spec's "Required?" column
    data_type = "integer"           # DataEnumType
    unit = "s"                      # optional
    min_limit = 0                   # optional characteristics
    max_limit = 10
    values_list = ["A", "W"]        # Option/Sequence/MemberList
    pattern = "^[^:]*$"             # optional, checked on string values
    mutability = "ReadWrite"        # of the Actual attribute
    value = "5"                     # default; "{name}" is taken from the installation (see `Installation`)
    live = false                    # true: the running charger supplies the value (no default, not stored)
    preset = false                  # a ReadOnly value the installer may still preset in [ocpp.device_model]
    reboot_required = false         # SetVariables answers RebootRequired (stored, effective after a reset)

    [[variable.attribute]]          # optional further attributes (Target, MinSet, MaxSet)
    type = "MaxSet"
    mutability = "ReadWrite"
    value = ""

Everything a file says is checked when it loads (`DefinitionError` names the file and the variable), so a
typo in a spec name's spelling is the only thing a test has to catch (tests/ocpp201/test_device_model_spec.py
holds the spec's required-variable table).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, cast, get_args

DataType = Literal["string", "decimal", "integer", "dateTime", "boolean", "OptionList", "SequenceList",
                   "MemberList"]
Mutability = Literal["ReadOnly", "WriteOnly", "ReadWrite"]
AttributeType = Literal["Actual", "Target", "MinSet", "MaxSet"]
Scope = Literal["station", "evse", "connector"]

LIST_TYPES = ("OptionList", "SequenceList", "MemberList")
NUMERIC_TYPES = ("integer", "decimal")


class DefinitionError(ValueError):
    """A component file that does not describe a valid component."""


@dataclass(frozen=True, slots=True)
class AttributeDef:
    type: AttributeType
    mutability: Mutability
    value: str | None  # default text (may hold "{placeholders}"); None: live, or unset until written


@dataclass(frozen=True, slots=True)
class VariableDef:
    name: str
    instance: str | None
    required: bool
    data_type: DataType
    attributes: tuple[AttributeDef, ...]
    unit: str | None = None
    min_limit: float | str | None = None  # a number, or "{placeholder}" from the installation
    max_limit: float | str | None = None
    values_list: tuple[str, ...] = ()
    pattern: str | None = None
    live: bool = False
    preset: bool = False
    reboot_required: bool = False
    description: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}[{self.instance}]" if self.instance else self.name

    def attribute(self, kind: AttributeType) -> AttributeDef | None:
        return next((a for a in self.attributes if a.type == kind), None)


@dataclass(frozen=True, slots=True)
class ComponentDef:
    name: str
    scope: Scope
    variables: tuple[VariableDef, ...]
    instance: str | None = None
    when: str | None = None
    description: str = ""
    source: str = field(default="", compare=False)


_COMPONENT_KEYS = {"name", "scope", "instance", "when", "description", "variable"}
_VARIABLE_KEYS = {"name", "instance", "required", "data_type", "unit", "min_limit", "max_limit",
                  "values_list", "pattern", "mutability", "value", "live", "preset", "reboot_required",
                  "description", "attribute"}
_ATTRIBUTE_KEYS = {"type", "mutability", "value"}


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise DefinitionError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return cast(str, value)


def _limit(value: Any, where: str) -> float | str | None:
    if value is None or (isinstance(value, str) and value.startswith("{") and value.endswith("}")):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DefinitionError(f"{where}: a number or a {{placeholder}}, not {value!r}")
    return float(value)


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise DefinitionError(f"{where}: a scalar value, not {value!r}")


def _variable(raw: dict[str, Any], where: str) -> VariableDef:
    unknown = set(raw) - _VARIABLE_KEYS
    if unknown:
        raise DefinitionError(f"{where}: unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise DefinitionError(f"{where}: every variable needs a name")
    where = f"{where} {name}"
    data_type = cast(DataType, _choice(raw.get("data_type"), get_args(DataType), f"{where}.data_type"))
    live = bool(raw.get("live", False))
    actual = AttributeDef("Actual", cast(Mutability, _choice(raw.get("mutability", "ReadOnly"),
                                                             get_args(Mutability), f"{where}.mutability")),
                          _text(raw.get("value"), f"{where}.value"))
    if live and actual.value is not None:
        raise DefinitionError(f"{where}: a live variable has no default value")
    if live and actual.mutability != "ReadOnly":
        raise DefinitionError(f"{where}: a live variable is ReadOnly")
    if actual.mutability == "WriteOnly" and actual.value not in (None, ""):
        raise DefinitionError(f"{where}: a WriteOnly variable has no default in the definition")
    attributes = [actual]
    for extra in raw.get("attribute", []):
        unknown = set(extra) - _ATTRIBUTE_KEYS
        if unknown:
            raise DefinitionError(f"{where}.attribute: unknown keys {sorted(unknown)}")
        kind = cast(AttributeType, _choice(extra.get("type"), get_args(AttributeType), f"{where}.attribute"))
        if any(a.type == kind for a in attributes):
            raise DefinitionError(f"{where}: attribute {kind} twice")
        attributes.append(AttributeDef(kind, cast(Mutability, _choice(
            extra.get("mutability", "ReadOnly"), get_args(Mutability), f"{where}.attribute.mutability")),
            _text(extra.get("value"), f"{where}.attribute.value")))
    values_list = tuple(str(v) for v in raw.get("values_list", []))
    if data_type in LIST_TYPES and not values_list:
        raise DefinitionError(f"{where}: an {data_type} needs a non-empty values_list")
    if data_type not in LIST_TYPES and values_list:
        raise DefinitionError(f"{where}: values_list only belongs to Option/Sequence/MemberList")
    pattern = raw.get("pattern")
    if pattern is not None:
        re.compile(pattern)
    return VariableDef(
        name=name, instance=raw.get("instance"), required=bool(raw.get("required", False)),
        data_type=data_type, attributes=tuple(attributes), unit=raw.get("unit"),
        min_limit=_limit(raw.get("min_limit"), f"{where}.min_limit"),
        max_limit=_limit(raw.get("max_limit"), f"{where}.max_limit"),
        values_list=values_list, pattern=pattern, live=live, preset=bool(raw.get("preset", False)),
        reboot_required=bool(raw.get("reboot_required", False)), description=str(raw.get("description", "")))


def parse_component(raw: dict[str, Any], source: str) -> ComponentDef:
    unknown = set(raw) - _COMPONENT_KEYS
    if unknown:
        raise DefinitionError(f"{source}: unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise DefinitionError(f"{source}: no component name")
    scope = cast(Scope, _choice(raw.get("scope", "station"), get_args(Scope), f"{source}.scope"))
    variables = tuple(_variable(v, f"{source}:") for v in raw.get("variable", []))
    labels = [v.label for v in variables]
    if len(set(labels)) != len(labels):
        raise DefinitionError(f"{source}: a variable is defined twice")
    return ComponentDef(name=name, scope=scope, variables=variables, instance=raw.get("instance"),
                        when=raw.get("when"), description=str(raw.get("description", "")), source=source)


def load_components() -> tuple[ComponentDef, ...]:
    """Every component file shipped in `components/`, in file-name order."""
    folder = resources.files(__package__).joinpath("components")
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            out.append(parse_component(tomllib.loads(entry.read_text(encoding="utf-8")), entry.name))
    return tuple(out)
