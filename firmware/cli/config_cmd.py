"""`chargepi config ...`: show, get, set, validate, diff, schema and keys of the controller's config file."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from firmware.cli.common import ConfigMissing, config_path, settings_from
from firmware.config_edit import (
    DEVICE_MODEL_PREFIX,
    RESTART_NOTE,
    device_model_defaults,
    diff_from_defaults,
    effective,
    environment_overrides,
    format_value,
    lookup,
    masked,
    ocpp_configuration_defaults,
    set_values,
    settable_keys,
    to_toml,
    validate_file,
)
from firmware.control.client import CommandFailed, ControllerUnreachable, call
from firmware.settings import ConfigError, Settings

SERVICE = "chargepi"


def systemctl() -> str:
    """The systemctl program (CHARGEPI_SYSTEMCTL overrides it, e.g. for tests)."""
    return os.environ.get("CHARGEPI_SYSTEMCTL", "systemctl")


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("config", help="show, check and change the configuration",
                            description="Show, check and change the configuration file.")
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION")
    actions.required = True

    show = actions.add_parser("show", parents=[common], help="the effective configuration (secrets masked)")
    show.set_defaults(handler=show_cmd)

    get = actions.add_parser("get", parents=[common], help="one setting's effective value")
    get.add_argument("key", metavar="KEY", help="dotted key, e.g. station.serial_number")
    get.add_argument("--reveal", action="store_true", help="print a secret instead of masking it")
    get.set_defaults(handler=get_cmd)

    set_ = actions.add_parser("set", parents=[common],
                              help="change settings in the file (validated first; comments kept)")
    set_.add_argument("key", metavar="KEY", help="dotted key, e.g. connectors.0.max_current_a")
    set_.add_argument("value", metavar="VALUE", help="TOML value (16, true, \"text\") or plain text")
    set_.add_argument("more", metavar="KEY VALUE", nargs="*",
                      help="further pairs, set together (a new section may need several keys at once)")
    set_.add_argument("--apply", action="store_true",
                      help=f"restart the service afterwards (systemctl restart {SERVICE})")
    set_.set_defaults(handler=set_cmd)

    validate = actions.add_parser("validate", parents=[common],
                                  help="check a config file; lists every problem, exit status 1 if any")
    validate.add_argument("file", metavar="FILE", nargs="?", help="file to check (default: --config)")
    validate.set_defaults(handler=validate_cmd)

    diff = actions.add_parser("diff", parents=[common], help="settings that differ from the defaults")
    diff.set_defaults(handler=diff_cmd)

    schema = actions.add_parser("schema", parents=[common], help="JSON schema of the configuration")
    schema.set_defaults(handler=schema_cmd)

    keys = actions.add_parser("keys", parents=[common], help="every key that can be set")
    keys.set_defaults(handler=keys_cmd)


def error(message: str, code: int) -> int:
    print(f"chargepi: {message}", file=sys.stderr)
    return code


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return settings_from(args)
    except PermissionError as exc:
        raise SystemExit(error(f"cannot read {exc.filename}: use sudo, or join the group chargepi", 2)) \
            from None
    except ConfigMissing as exc:
        raise SystemExit(error(str(exc), 2)) from None
    except ConfigError as exc:
        raise SystemExit(error(f"{exc}\n(fix it with `chargepi config set` or an editor, "
                               "then `chargepi config validate`)", 2)) from None


def show_cmd(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = config_path(args)
    source = str(path) if path.exists() else "defaults only, no config file"
    print(f"# effective configuration ({source}; secrets masked)")
    for key, variable in environment_overrides().items():
        print(f"# {key} comes from the environment ({variable}), over the file")
    print(to_toml(masked(effective(settings))), end="")
    return 0


def get_cmd(args: argparse.Namespace) -> int:
    tree = effective(_settings(args))
    try:
        value = lookup(tree, args.key)
    except ConfigError as exc:
        if args.key not in settable_keys():
            return error(str(exc), 1)
        section = args.key.split(".", 1)[0]
        if tree.get(section) is None:
            print(f"(not set: the config has no [{section}] section)")
            return 0
        if args.key.startswith(DEVICE_MODEL_PREFIX):
            default = device_model_defaults()[args.key[len(DEVICE_MODEL_PREFIX):]]
        else:
            default = ocpp_configuration_defaults()[args.key.removeprefix("ocpp.configuration.")]
        print(f"{default} (OCPP default, not preset; the CSMS may change it)")
        return 0
    for key, variable in environment_overrides().items():
        if args.key == key or args.key.startswith(key + ".") or key.startswith(args.key + "."):
            print(f"chargepi: note: {variable} in the environment overrides the file", file=sys.stderr)
    leaf = args.key.rsplit(".", 1)[-1]
    if not args.reveal:
        value = masked({leaf: value})[leaf]
    print(format_value(value))
    return 0


def set_cmd(args: argparse.Namespace) -> int:
    path = config_path(args)
    if len(args.more) % 2:
        return error(f"{args.more[-1]!r} has no value: give KEY VALUE pairs", 2)
    pairs = [(args.key, args.value), *zip(args.more[::2], args.more[1::2], strict=True)]
    try:
        stored = set_values(path, pairs)
    except ConfigError as exc:
        print(f"chargepi: not changed: {exc}")
        return 1
    except PermissionError as exc:
        return error(f"no permission to write {exc.filename or path}: run with sudo", 1)
    shown = {}
    for written, key, value in stored:
        leaf = key.rsplit(".", 1)[-1]
        shown[key] = format_value(masked({leaf: value})[leaf])
        print(f"{written}: {key} = {shown[key]}")
    tell_the_controller(args, path, shown)
    if not args.apply:
        print(f"{RESTART_NOTE}: `sudo systemctl restart {SERVICE}` (or repeat with --apply)")
        return 0
    return restart_service()


def tell_the_controller(args: argparse.Namespace, path: Path, changes: dict[str, str]) -> None:
    """Put the change on the running controller's audit trail, with who made it (secrets masked). A
    stopped controller notices the changed keys at its next start (firmware/audit/config_changes.py)."""
    try:
        settings = settings_from(args)
    except ConfigError:
        return  # set_values validated the file; anything else is reported by the next command
    try:
        call(settings.station.socket_path, "config-set", timeout=3.0, file=str(path), changes=changes)
    except ControllerUnreachable:
        pass
    except CommandFailed as exc:
        print(f"chargepi: the change is written but not on the audit trail: {exc}", file=sys.stderr)


def restart_service() -> int:
    print(f"restarting {SERVICE} ...")
    try:
        done = subprocess.run([systemctl(), "restart", SERVICE], check=False)
    except FileNotFoundError:
        return error(f"{systemctl()} not found: restart the controller by hand", 1)
    if done.returncode != 0:
        print(f"chargepi: the service did not start again; see `journalctl -u {SERVICE} -n 50`")
        return done.returncode
    print(f"{SERVICE} restarted")
    return 0


def validate_cmd(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else config_path(args)
    try:
        settings = validate_file(path)
    except ConfigError as exc:
        print(exc)
        return 1
    except PermissionError as exc:
        return error(f"cannot read {exc.filename}: use sudo, or join the group chargepi", 2)
    print(f"{path}: valid ({len(settings.connectors)} connector(s))")
    return 0


def diff_cmd(args: argparse.Namespace) -> int:
    changes = diff_from_defaults(_settings(args))
    if not changes:
        print("everything is at its default")
    for key, old, new in changes:
        print(f"{key}: {format_value(old)} -> {format_value(new)}")
    return 0


def schema_cmd(args: argparse.Namespace) -> int:
    print(json.dumps(Settings.model_json_schema(), indent=2))
    return 0


def keys_cmd(args: argparse.Namespace) -> int:
    for key in settable_keys():
        print(key)
    return 0
