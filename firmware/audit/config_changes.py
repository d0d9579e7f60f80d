"""What changed in the configuration, for the audit trail, however it was changed.

`chargepi config set` tells a running controller which keys it wrote (`config-set` on the control socket,
audited with the caller's user name by firmware/control/server.py). An editor, a package upgrade or a
`config set` while the controller was stopped leave no such trace, so at every start the controller also
compares the settings with the ones it last ran with and writes one `config-changed` line naming the keys.

Only a fingerprint of each value is kept (`<state_dir>/config-seen.json`, SHA-256 per key): a changed
password is noticed without the password being stored anywhere new.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from firmware.audit.trail import emit
from firmware.settings_tree import flatten

SNAPSHOT_NAME = "config-seen.json"

log = logging.getLogger(__name__)


def fingerprints(settings_tree: dict[str, Any]) -> dict[str, str]:
    """Key → SHA-256 of its JSON value, for every leaf of the settings."""
    return {key: hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
            for key, value in flatten(settings_tree).items()}


def changed_keys(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def audit_config_changes(settings_tree: dict[str, Any], state_dir: Path) -> list[str]:
    """Write a `config-changed` audit line if the settings differ from the last start; the keys changed.

    The first start only records the fingerprints. Failing to read or write the snapshot is logged and
    never stops the controller."""
    path = state_dir / SNAPSHOT_NAME
    now = fingerprints(settings_tree)
    try:
        before = json.loads(path.read_text())
    except FileNotFoundError:
        before = None
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s (%s): configuration changes since the last start are not audited",
                    path, exc)
        before = None
    keys = changed_keys(before, now) if isinstance(before, dict) else []
    if keys:
        emit("config-changed", f"configuration changed since the last start: {', '.join(keys)}", keys=keys)
    if keys or not isinstance(before, dict):
        _write(path, now)
    return keys


def _write(path: Path, values: dict[str, str]) -> None:
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(json.dumps(values, sort_keys=True))
        os.replace(partial, path)
    except OSError as exc:
        log.warning("cannot write %s (%s): the next start audits against an older configuration", path, exc)
        with contextlib.suppress(OSError):
            partial.unlink()
