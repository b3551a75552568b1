"""Small helpers the modules of the report share."""

from __future__ import annotations


def _names(text: str) -> list[str]:
    """Return the column names listed in ``text`` (separated by white space)."""
    return text.split()


def _vi_number(n: int) -> str:
    """Return a whole number with Vietnamese thousands dots ("1.234")."""
    return f"{n:,}".replace(",", ".")
