"""Settings as flat dotted keys (`connectors.0.max_current_a`), for the config CLI and the audit trail.

Pure and light on purpose (no pydantic, no TOML): the controller uses it at start to audit what changed.
"""

from __future__ import annotations

from typing import Any


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"station.vendor": "chargepi", "connectors.0.id": 1, ...}; empty tables and lists stay as leaves."""
    if isinstance(tree, dict) and tree:
        items: list[tuple[str, Any]] = list(tree.items())
    elif isinstance(tree, list) and tree and all(isinstance(x, dict) for x in tree):
        items = [(str(i), x) for i, x in enumerate(tree)]
    else:
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return out
