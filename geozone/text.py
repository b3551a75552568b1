"""Vietnamese text: NFC normalisation, diacritic folding and unit-type words.

Data and UI keep their diacritics (NFC). Search compares *folded* keys: lower case, no
diacritics (``đ`` becomes ``d``), no spaces or punctuation, so "Phường Nghĩa Đô", "nghia do"
and "NghiaDo" meet.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

#: Unit type words as they open a full name, longest first so "Thị xã" wins over "Xã".
UNIT_TYPES: tuple[str, ...] = (
    "Thành phố Trung ương",
    "Thành phố",
    "Thị trấn",
    "Thị xã",
    "Đặc khu",
    "Phường",
    "Quận",
    "Huyện",
    "Tỉnh",
    "Xã",
)

#: Abbreviations people write before a name ("P. Nghĩa Đô", "TP Việt Trì"), folded.
TYPE_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "Phường": ("p",),
    "Quận": ("q",),
    "Huyện": ("h",),
    "Thành phố": ("tp",),
    "Thành phố Trung ương": ("tp",),
    "Thị xã": ("tx",),
    "Thị trấn": ("tt",),
    "Xã": ("x",),
    "Tỉnh": ("t",),
    "Đặc khu": ("dk",),
}

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def nfc(text: str) -> str:
    """Return ``text`` in Unicode NFC with surrounding and repeated spaces removed."""
    return " ".join(unicodedata.normalize("NFC", text).split())


#: Text that :func:`nfc` changes has one of these (RE2 syntax): a character other than
#: printable ASCII, two spaces, a space at either end. Other text is its own NFC.
NFC_CHANGES = r"[^\x20-\x7e]|  |^ | $"


def nfc_all(texts: Sequence[str]) -> list[str]:
    """Return :func:`nfc` of each of ``texts``, those it keeps as they are found at once.

    Those without :data:`NFC_CHANGES` (most identifiers) are found by one Arrow match
    instead of a Python call each (a piece's 50,000 ids).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    out = list(texts)
    if not out:
        return out
    changed = pc.match_substring_regex(pa.array(out, type=pa.string()), NFC_CHANGES)
    for i in np.flatnonzero(np.asarray(changed.to_numpy(zero_copy_only=False), dtype=bool)):
        out[i] = nfc(out[i])
    return out


def fold(text: str) -> str:
    """Fold ``text`` to a search key: lower case ASCII letters and digits only.

    Examples
    --------
    >>> fold("Phường Nghĩa Đô")
    'phuongnghiado'
    >>> fold("Quan  Hoa")
    'quanhoa'
    """
    return _NON_ALNUM.sub("", strip_accents(text).lower())


def strip_accents(text: str) -> str:
    """Return ``text`` without diacritics (đ/Đ become d/D), case and spacing kept.

    >>> strip_accents("Phường Nghĩa Đô")
    'Phuong Nghia Do'
    """
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


#: Vietnamese tone marks (combining): grave, acute, tilde, hook above, dot below.
_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")


def accent_key(text: str) -> str:
    """Fold ``text`` keeping its diacritics: lower case, letters and digits only.

    Each word's tone mark is moved after its letters, so the old and new placements
    ("Hoà", "Hòa") meet while names that differ in a diacritic ("Phương", "Phường";
    "Hương Vân", "Hương Văn") stay apart.

    Examples
    --------
    >>> accent_key("Thanh Hoá") == accent_key("thanh hóa")
    True
    >>> accent_key("Phương") == accent_key("Phường")
    False
    """
    keys = []
    for word in text.split():
        decomposed = unicodedata.normalize("NFD", word.lower())
        tones = [ch for ch in decomposed if ch in _TONE_MARKS]
        base = unicodedata.normalize(
            "NFC", "".join(ch for ch in decomposed if ch not in _TONE_MARKS)
        )
        keys.append("".join(ch for ch in base if ch.isalnum()) + "".join(tones[:1]))
    return "".join(keys)


def split_unit_type(full_name: str) -> tuple[str | None, str]:
    """Split a full unit name into its type word and the bare name.

    Parameters
    ----------
    full_name
        For example ``"Phường Nghĩa Đô"`` or ``"Thành phố Hà Nội"``.

    Returns
    -------
    tuple
        ``(unit_type, name)``; ``unit_type`` is None when no known type word opens the name.
    """
    text = nfc(full_name)
    for unit_type in UNIT_TYPES:
        if text.startswith(unit_type + " "):
            return unit_type, text[len(unit_type) + 1 :]
    return None, text


def search_keys(name: str, unit_type: str | None) -> list[str]:
    """Return every folded key under which a unit is found by name.

    The bare name, the full name with its type word, and the name after each usual
    abbreviation of the type ("p nghia do", "tp viet tri").
    """
    bare = fold(name)
    keys = [bare]
    if isinstance(unit_type, str) and unit_type:
        keys.append(fold(unit_type) + bare)
        keys.extend(abbr + bare for abbr in TYPE_ABBREVIATIONS.get(unit_type, ()))
    return list(dict.fromkeys(keys))


def format_number(value: float, language: str = "vi") -> str:
    """Write a number the way readers of ``language`` ("vi" or "en") expect.

    Vietnamese groups thousands with dots and writes decimals with a comma; English the
    other way round. Whole numbers get no decimals, others one.

    >>> format_number(1000), format_number(2.5), format_number(1000, "en")
    ('1.000', '2,5', '1,000')
    """
    rounded = round(float(value), 1)
    text = f"{rounded:,.0f}" if rounded == int(rounded) else f"{rounded:,.1f}"
    if language == "vi":
        return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def format_date(day: object, language: str = "vi") -> str:
    """Write a date as dd/mm/yyyy (Vietnamese) or yyyy-mm-dd (English)."""
    from datetime import date

    assert isinstance(day, date)
    return day.strftime("%d/%m/%Y") if language == "vi" else day.isoformat()
