"""Small helpers the modules of the report share."""

from __future__ import annotations


def _names(text: str) -> list[str]:
    """Return the column names listed in ``text`` (separated by white space)."""
    return text.split()
