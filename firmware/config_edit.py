"""Reading and editing the config file for technicians: keys, masked display, validated edits, defaults.

Keys are dotted paths into the settings: `station.serial_number`, `logging.components.ocpp`, and for the
`[[connectors]]` tables the position in the file starting at 0: `connectors.0.max_current_a` (the same
form `chargepi config validate` uses in its messages).

Edits go through tomlkit, so comments and layout are kept, and are validated with `load_settings` on the
edited text before the file is replaced (atomically, keeping its owner and mode). Nothing is written
when the result would be invalid. Credentials go to secrets.toml beside the config (see `target_file`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, get_args

import tomlkit
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table

from firmware.ocpp.catalogue import configuration_defaults
from firmware.ocpp.catalogue import device_model_defaults as device_model_defaults_of
from firmware.redaction import MASK, is_secret_key
from firmware.settings import (
    SECRETS_FILE_NAME,
    ConfigError,
    ConnectorSettings,
    Settings,
    load_settings,
    secrets_path,
)
from firmware.settings_tree import flatten

RESTART_NOTE = "takes effect when the controller restarts"


def defaults() -> dict[str, Any]:
    """The settings a config file without any entries gives (environment ignored)."""
    return Settings.model_validate({}).model_dump(mode="json")


def environment_overrides(environ: dict[str, str] | None = None) -> dict[str, str]:
    """{dotted key: variable} for every CHARGEPI_<SECTION>__... variable that overrides the file."""
    env = dict(os.environ) if environ is None else environ
    out = {}
    for name in sorted(env):
        if not name.upper().startswith("CHARGEPI_"):
            continue
        key = name[len("CHARGEPI_"):].lower().replace("__", ".")
        if key.split(".", 1)[0] in Settings.model_fields:
            out[key] = name
    return out


def settable_keys() -> list[str]:
    """Every key `chargepi config set` takes: the defaults' keys, the keys of the optional sections
    (`[ocpp]` with its firmware/diagnostics tables) and each writable OCPP configuration key."""
    keys = list(flatten(defaults()))
    for name, field in Settings.model_fields.items():
        section = _optional_section(field.annotation)
        if section is not None:
            keys.remove(name)
            keys += [f"{name}.{key}" for key in flatten(_field_defaults(section, required=True))]
    keys = [key for key in keys if key not in ("ocpp.configuration", "ocpp.device_model")]
    keys += [f"ocpp.configuration.{name}" for name in sorted(ocpp_configuration_defaults())]
    keys += [f"{DEVICE_MODEL_PREFIX}{name}" for name in device_model_defaults()]
    return keys


def device_model_defaults() -> dict[str, str]:
    """The OCPP 2.0.1 device-model variables an `[ocpp.device_model]` table may preset, with their defaults
    for a one-connector installation (EVSE-scoped ones repeat per EVSE as EVSE#<n>)."""
    return device_model_defaults_of(Settings.model_validate(
        {"ocpp": {"url": "ws://csms.invalid/ocpp", "charge_point_id": "CP"}}))


def ocpp_configuration_defaults() -> dict[str, str]:
    """The OCPP 1.6 configuration keys a `[ocpp.configuration]` table may preset, with their defaults."""
    return configuration_defaults()


def _optional_section(annotation: Any) -> type[BaseModel] | None:
    """The settings model of an optional section (`ocpp: OcppSettings | None`), else None."""
    args = get_args(annotation)
    if type(None) not in args:
        return None
    return next((t for t in args if isinstance(t, type) and issubclass(t, BaseModel)), None)


def effective(settings: Settings) -> dict[str, Any]:
    return settings.model_dump(mode="json")


def masked(tree: Any) -> Any:
    """A copy with the value of every credential-like key (password, authorization_key, ...) masked."""
    if isinstance(tree, dict):
        return {k: MASK if is_secret_key(k) and v not in (None, "") and not isinstance(v, dict | list)
                else masked(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [masked(x) for x in tree]
    return tree


DEVICE_MODEL_PREFIX = "ocpp.device_model."


def key_parts(key: str) -> list[str]:
    """The table path of a dotted key; an OCPP 2.0.1 device-model key (which holds dots) is one part."""
    if key.startswith(DEVICE_MODEL_PREFIX):
        return ["ocpp", "device_model", key[len(DEVICE_MODEL_PREFIX):]]
    return key.split(".")


def lookup(tree: dict[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key_parts(key):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ConfigError(f"{key}: not a known setting (see `chargepi config keys`)")
    return node


def without_none(tree: Any) -> Any:
    """TOML has no null: unset optional values are left out."""
    if isinstance(tree, dict):
        return {k: without_none(v) for k, v in tree.items() if v is not None}
    if isinstance(tree, list):
        return [without_none(x) for x in tree]
    return tree


def to_toml(tree: dict[str, Any]) -> str:
    return tomlkit.dumps(without_none(tree))


def format_value(value: Any) -> str:
    """A value as a technician would type it: strings bare, everything else as TOML."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return to_toml(value).rstrip("\n")
    if value is None:
        return "(not set)"
    return str(tomlkit.item(without_none(value)).as_string())


def diff_from_defaults(settings: Settings) -> list[tuple[str, Any, Any]]:
    """(key, default, current) for every setting that differs from its default, secrets masked.

    Connectors beyond the default one are compared with a fresh connector of the same id.
    """
    base = defaults()
    current = masked(effective(settings))
    base["connectors"] = [ConnectorSettings.model_validate({"id": i + 1}).model_dump(mode="json")
                          for i in range(len(current["connectors"]))]
    for name, field in Settings.model_fields.items():  # an optional section that is now present
        if base.get(name) is None and isinstance(current.get(name), dict):
            section = _optional_section(field.annotation)
            if section is not None:
                base[name] = _field_defaults(section)
    old, new = (_without_empty_tables(flatten(masked(base))),
                _without_empty_tables(flatten(current)))
    missing = object()
    return [(key, old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys(), key=_key_order)
            if old.get(key, missing) != new.get(key, missing)]


def _field_defaults(model: type[BaseModel], required: bool = False) -> dict[str, Any]:
    """The defaults of a settings section's fields (required ones have none: left out, or None with
    `required`)."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.is_required():
            if required:
                out[name] = None
        else:
            value = field.get_default(call_default_factory=True)
            out[name] = (value.model_dump(mode="json") if isinstance(value, BaseModel)
                         else to_jsonable_python(value))
    return out


def _without_empty_tables(flat: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in flat.items() if value != {}}


def _key_order(key: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in key.split(".")]


def parse_value(raw: str) -> Any:
    """A value typed on the command line: a TOML literal (16, true, [1, 2], "x") or else a bare string."""
    try:
        return tomlkit.parse(f"v = {raw}").unwrap()["v"]
    except (TOMLKitError, ValueError):
        return raw


def read_document(path: Path) -> tomlkit.TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (TOMLKitError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _assign(doc: tomlkit.TOMLDocument, key: str, value: Any) -> Any:
    """Put `value` at `key` (creating tables on the way); returns the value as stored."""
    parts = key_parts(key)
    node: Any = doc
    for depth, part in enumerate(parts[:-1]):
        where = ".".join(parts[:depth + 1])
        if isinstance(node, AoT | list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{key}: the file has no {where} (it has {len(node)} such table(s); "
                                  "add one with a [[...]] header first)")
            node = node[int(part)]
        elif part in node:
            node = node[part]
            if not isinstance(node, Table | AoT | dict | list):
                raise ConfigError(f"{key}: {where} is a single value, not a table")
        else:
            node[part] = tomlkit.table()
            node = node[part]
    if isinstance(node, AoT | list):
        raise ConfigError(f"{key}: say which table, e.g. {key.rsplit('.', 1)[0]}.0.{parts[-1]}")
    old = node.get(parts[-1])
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # 20 for a setting written as 16.0 stays a float: 20.0
    node[parts[-1]] = value
    return value


def target_file(config: Path, key: str) -> Path:
    """Credentials (password, authorization_key, ...) live in secrets.toml (mode 0600) beside the config,
    which systemd hands to the service (LoadCredential=); everything else in the config file."""
    return config.parent / SECRETS_FILE_NAME if is_secret_key(key.rsplit(".", 1)[-1]) else config


def _validate(texts: dict[Path, str], config: Path) -> Settings:
    """load_settings as if the files in `texts` (the config and/or its secrets file) held that text."""
    secrets = config.parent / SECRETS_FILE_NAME
    temps: dict[Path, str] = {}
    try:
        for target, text in texts.items():
            fd, temps[target] = tempfile.mkstemp(prefix=".chargepi-check-", suffix=".toml")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
        main = Path(temps[config]) if config in temps else config if config.exists() else None
        return load_settings(main, secrets=Path(temps[secrets]) if secrets in temps else secrets_path(config))
    except ConfigError as exc:
        message = str(exc)
        for target, tmp in temps.items():
            message = message.replace(tmp, str(target))
        raise ConfigError(message) from None
    finally:
        for tmp in temps.values():
            os.unlink(tmp)


def set_values(path: Path, pairs: list[tuple[str, str]]) -> list[tuple[Path, str, Any]]:
    """Set each key to the value typed for it, all at once (a new section may need several keys), in
    the config at `path` or, for credentials, its secrets file. Nothing is written unless the result is
    valid. Returns (file, key, value as stored) for each pair.

    A value is read as a TOML literal; if the setting then fails and the raw text was not a string
    literal (e.g. 1234 for a text setting), it is tried once more as plain text.
    """
    values = [parse_value(raw) for _, raw in pairs]
    first_error: ConfigError | None = None
    for _attempt in range(2):
        docs: dict[Path, tomlkit.TOMLDocument] = {}
        stored = []
        for (key, _), value in zip(pairs, values, strict=True):
            target = target_file(path, key)
            doc = docs.setdefault(target, read_document(target))
            stored.append((target, key, _assign(doc, key, value)))
        texts = {target: tomlkit.dumps(doc) for target, doc in docs.items()}
        try:
            _validate(texts, path)
        except ConfigError as exc:
            retry = [i for i, ((key, _), value) in enumerate(zip(pairs, values, strict=True))
                     if not isinstance(value, str) and f"  {key} = " in str(exc)]
            if first_error is not None or not retry:
                raise (first_error or exc) from None
            first_error = exc  # reported if reading them as text does not help either
            for i in retry:
                values[i] = pairs[i][1]
            continue
        for target, text in texts.items():
            write_atomically(target, text, new_mode=0o640 if target == path else 0o600)
        return stored
    raise AssertionError("unreachable")


def write_atomically(path: Path, text: str, new_mode: int = 0o640) -> None:
    """Replace the file in one step, keeping its owner, group and mode (secrets stay 0600)."""
    old = path.stat() if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if old is not None:
            os.chmod(tmp, old.st_mode & 0o7777)
            with contextlib.suppress(PermissionError):
                os.chown(tmp, old.st_uid, old.st_gid)
        else:
            os.chmod(tmp, new_mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def validate_file(path: Path) -> Settings:
    """The settings from the file, or ConfigError listing every problem."""
    return load_settings(path)
