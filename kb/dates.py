"""Days as users and pages write them: ISO dates (YYYY-MM-DD), and "today" / "yesterday" (the local calendar)."""
from __future__ import annotations

import re
from datetime import date as Date, timedelta

from kb.types import KbError

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def valid_day(value: str | None) -> bool:
    """True for a real ISO calendar day ("2024-02-29" yes, "2024-13-45" no)."""
    if not value or not _ISO.fullmatch(value):
        return False
    try:
        Date.fromisoformat(value)
    except ValueError:
        return False
    return True


def parse_day(value: str, what: str = "date", today: Date | None = None) -> str:
    """`value` as an ISO day: YYYY-MM-DD as is, "today" and "yesterday" resolved on the local calendar (`today`
    for tests). Anything else is a KbError that says what was wrong and what is accepted."""
    text = value.strip().lower()
    base = today or Date.today()
    if text == "today":
        return base.isoformat()
    if text == "yesterday":
        return (base - timedelta(days=1)).isoformat()
    if valid_day(text):
        return text
    why = "not a calendar day" if _ISO.fullmatch(text) else "not a date"
    raise KbError(f"{what} '{value[:40]}' is {why}; use YYYY-MM-DD (e.g. 2024-05-22), 'today' or 'yesterday'")


def check_range(since: str | None, until: str | None) -> None:
    if since and until and since > until:
        raise KbError(f"--since {since} is after --until {until}: no day can match")
