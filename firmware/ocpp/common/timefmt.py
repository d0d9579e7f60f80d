"""OCPP timestamps (RFC 3339, the same in every OCPP version): read leniently, written strictly."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_ocpp_time(text: str | None) -> datetime | None:
    """An OCPP (RFC 3339) timestamp, or None when absent or unreadable (never an exception)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def rfc3339(when: datetime) -> str:
    """UTC timestamp with millisecond precision and a `Z` suffix, as strict CSMSs require."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
