"""Fixtures for the product tests (CLI, install, service)."""

from __future__ import annotations

import importlib.util

import pytest

from firmware.cli import main as cli_main


@pytest.fixture(autouse=True)
def _only_existing_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the CLI from the command modules present on this branch (others land in parallel)."""
    present = [m for m in cli_main.COMMAND_MODULES if importlib.util.find_spec(m) is not None]
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", present)
