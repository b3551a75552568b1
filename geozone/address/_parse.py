"""Reading the administrative parts of a Vietnamese address (for :mod:`geozone.address.resolve`).

The text is cut into *segments* at commas (semicolons, line breaks), each segment into
*tokens* (words; dots and dashes separate words: "P.Nghĩa Đô", "TP.HCM", "Bà Rịa - Vũng
Tàu"). A segment reads as street words followed by administrative *pieces*, each an optional
type word ("phường", "P.", "thị xã", "TX") and a name the gazetteer knows:

    số 12 ngõ 35 Hoàng Quốc Việt   phường | Nghĩa Đô   quận | Cầu Giấy   Hà Nội
    ---------- street ---------    --- piece ---       --- piece ---     piece

Every way of reading each segment is listed (:func:`segment_readings`); the choice between
them is made on the whole address, against the units' hierarchy (``geozone.address.resolve``).

Rules that keep street names from being read as units:

- a piece without a type word may start a segment or follow another piece, or follow street
  words, but never a house number or a street word ("số", "ngõ", "đường", "thôn"...):
  "12 Quang Trung" is a street, "Quang Trung" after a comma may be a ward;
- a name that is only a number ("12" for Phường 12) needs its type word ("P.12", "Quận 1");
- a type word written with diacritics must carry the type's own ("Phương Liên" is a name,
  "phường Liên" is not); written without any, it may be either, and both readings are kept.

A type word written with diacritics (or as an abbreviation) followed by no known name is an
*unread* piece: the part the resolver names when it cannot read the address.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from geozone.address.gazetteer import TYPE_LEVELS, Entry, Gazetteer
from geozone.text import accent_key, fold, nfc

#: The longest name, in words, looked up in one piece.
MAX_NAME_WORDS = 7
#: At most this many readings are kept for one segment (the most complete first).
MAX_SEGMENT_READINGS = 48
#: At most this many tilings of a segment's tail are kept (the most named pieces first): the
#: tilings of a long run of names grow exponentially with its length (119 words of repeated
#: "Phường 1 Quận 3 Hồ Chí Minh" took 8.6 s to tile, 20 repeats 98 s); real segments have
#: a few dozen at most.
MAX_TILINGS = 256

#: Written type words (folded words) and the type they write.
TYPE_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("thanh", "pho"), "Thành phố"),
    (("thi", "xa"), "Thị xã"),
    (("thi", "tran"), "Thị trấn"),
    (("dac", "khu"), "Đặc khu"),
    (("phuong",), "Phường"),
    (("quan",), "Quận"),
    (("huyen",), "Huyện"),
    (("xa",), "Xã"),
    (("tinh",), "Tỉnh"),
)
#: Abbreviated type words (folded, written without diacritics).
WRITTEN_ABBREVIATIONS: Mapping[str, str] = {
    "p": "Phường",
    "f": "Phường",
    "q": "Quận",
    "h": "Huyện",
    "x": "Xã",
    "tt": "Thị trấn",
    "tx": "Thị xã",
    "tp": "Thành phố",
    "t": "Tỉnh",
    "dk": "Đặc khu",
}
#: Words that open a street or a place below the ward (folded): a name right after one of
#: them is a street's or a village's, not a unit's.
STREET_WORDS = frozenset(
    {
        "so",
        "duong",
        "pho",
        "ngo",
        "ngach",
        "hem",
        "kiet",
        "to",
        "thon",
        "xom",
        "ap",
        "khu",
        "kp",
        "tdp",
        "lo",
        "km",
        "nha",
        "tang",
        "toa",
        "can",
        "cum",
        "doi",
        "lang",
    }
)
#: Words naming the country, skipped wherever they stand (folded token sequences).
COUNTRY_WORDS: tuple[tuple[str, ...], ...] = (("viet", "nam"), ("vietnam",), ("vn",))

_SEGMENT_SEPARATORS = re.compile(r"[,;|\n\r]+")
_DOTTED = re.compile(r"\b([Tt])\.\s?([PpXxTt])\b")  # "T.P", "T.X", "T.T"
_GLUED_NUMBER = re.compile(r"\b([PpQqFf])\.?(\d{1,2})\b")  # "P12", "Q.1", "F7"
_WORD_BREAKS = re.compile(r"[\s.()\[\]\"“”]+|\s[-–—]+\s|(?<=\D)[-–—]+(?=\D)")


@dataclass(frozen=True)
class Token:
    """One word of a segment: as written, folded, and with its diacritics (accent key)."""

    text: str
    fold: str
    accent: str
    marked: bool

    @classmethod
    def of(cls, word: str) -> Token:
        """Make the token of a written word (a number loses its leading zeros)."""
        folded = fold(word)
        if folded.isdigit():
            folded = str(int(folded))
        return cls(word, folded, accent_key(word), any(ord(ch) > 127 for ch in word))

    @cached_property
    def has_digit(self) -> bool:
        """True for a house number or any word with a digit in it."""
        return any(ch.isdigit() for ch in self.text)


@dataclass(frozen=True)
class Piece:
    """An administrative part of a segment: tokens ``[start, end)``, type word included.

    ``entries`` are the units its name can be (every set); empty for an *unread* piece
    (a type word followed by no known name). ``certain`` is False for a type word written
    without diacritics, which may also be the first word of a name.
    """

    start: int
    end: int
    written_type: str | None
    certain: bool
    name: str
    accent: str
    marked: bool
    entries: tuple[Entry, ...]

    @property
    def text(self) -> str:
        """The piece as written, type word included."""
        return self.name if self.written_type is None else f"{self.written_type} {self.name}"


@dataclass(frozen=True)
class SegmentReading:
    """One way to read a segment: ``street`` tokens of street, then ``pieces``."""

    street: int
    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class Segment:
    """A comma-separated part of the address, its tokens and its readings."""

    text: str
    tokens: tuple[Token, ...]
    readings: tuple[SegmentReading, ...]

    def street_text(self, reading: SegmentReading) -> str:
        """Return the street words of a reading, as written."""
        return " ".join(token.text for token in self.tokens[: reading.street])

    @property
    def is_street(self) -> bool:
        """True when the segment opens with a house number or a street word."""
        return bool(self.tokens) and (
            self.tokens[0].has_digit or self.tokens[0].fold in STREET_WORDS
        )

    @property
    def is_country(self) -> bool:
        """True for "Việt Nam" and the like."""
        return tuple(t.fold for t in self.tokens) in COUNTRY_WORDS


def split_segments(text: str) -> list[str]:
    """Cut an address into its comma-separated segments (NFC, abbreviations opened)."""
    parts = [nfc(part) for part in _SEGMENT_SEPARATORS.split(text)]
    parts = [_DOTTED.sub(lambda m: m.group(1) + m.group(2), part) for part in parts]
    return [_GLUED_NUMBER.sub(r"\1 \2", part) for part in parts if part]


def tokenize(segment: str) -> tuple[Token, ...]:
    """Cut a segment into tokens."""
    return tuple(Token.of(word) for word in _WORD_BREAKS.split(segment) if fold(word))


class SegmentReader:
    """Lists the readings of segments against one gazetteer (cached by segment text)."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer
        self._cache: dict[str, Segment] = {}

    def read(self, segment: str) -> Segment:
        """Return the segment with its tokens and every reading of it."""
        known = self._cache.get(segment)
        if known is None:
            tokens = tokenize(segment)
            known = Segment(segment, tokens, _Tiler(self.gazetteer, tokens).readings())
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[segment] = known
        return known


class _Tiler:
    """Every tiling of a segment's tail by pieces (memoised by start and context)."""

    def __init__(self, gazetteer: Gazetteer, tokens: tuple[Token, ...]) -> None:
        self.gazetteer = gazetteer
        self.tokens = tokens
        self._memo: dict[tuple[int, bool], list[tuple[Piece, ...]]] = {}

    def readings(self) -> tuple[SegmentReading, ...]:
        """Street words, then pieces to the end; a type word written out is never street."""
        typed = [i for i in range(len(self.tokens)) if any(c for _, _, c in self._types_at(i))]
        last_street = typed[0] if typed else len(self.tokens)
        found = [] if typed else [SegmentReading(len(self.tokens), ())]
        for street in range(last_street + 1 if typed else len(self.tokens)):
            untyped_ok = street == 0 or self._may_follow_street(street)
            found.extend(SegmentReading(street, tiles) for tiles in self._tile(street, untyped_ok))
        found.sort(key=_reading_rank)
        return tuple(found[:MAX_SEGMENT_READINGS])

    def _may_follow_street(self, start: int) -> bool:
        before = self.tokens[start - 1]
        return not before.has_digit and before.fold not in STREET_WORDS

    def _tile(self, start: int, untyped_ok: bool) -> list[tuple[Piece, ...]]:
        key = (start, untyped_ok)
        if key not in self._memo:
            self._memo[key] = self._tile_from(start, untyped_ok)
        return self._memo[key]

    def _tile_from(self, start: int, untyped_ok: bool) -> list[tuple[Piece, ...]]:
        if start == len(self.tokens):
            return [()]
        tilings: list[tuple[Piece, ...]] = []
        country = self._country_end(start)
        if country is not None:
            tilings.extend(self._tile(country, True))
        for piece in self._pieces_at(start, untyped_ok):
            tilings.extend((piece, *rest) for rest in self._tile(piece.end, True))
        if len(tilings) > MAX_TILINGS:
            tilings.sort(key=_tiling_rank)
            del tilings[MAX_TILINGS:]
        return tilings

    def _country_end(self, start: int) -> int | None:
        for words in COUNTRY_WORDS:
            end = start + len(words)
            if tuple(t.fold for t in self.tokens[start:end]) == words:
                return end
        return None

    def _pieces_at(self, start: int, untyped_ok: bool) -> list[Piece]:
        pieces: list[Piece] = []
        for name_start, written, certain in self._types_at(start):
            typed = self._named(start, name_start, written, certain)
            if not typed and certain:
                typed = self._unread(start, name_start, written)
            pieces.extend(typed)
        if untyped_ok:
            pieces.extend(self._named(start, start, None, False))
        return pieces

    def _types_at(self, start: int) -> list[tuple[int, str, bool]]:
        """Type words opening at ``start``: (first token of the name, type, certain)."""
        tokens = self.tokens
        found = []
        first = tokens[start]
        if first.fold in WRITTEN_ABBREVIATIONS and not first.marked:
            found.append((start + 1, WRITTEN_ABBREVIATIONS[first.fold], True))
        for words, written in TYPE_PHRASES:
            end = start + len(words)
            span = tokens[start:end]
            if tuple(t.fold for t in span) != words or end >= len(tokens):
                continue
            if tokens[end].fold == "lo":  # "tỉnh lộ", "quốc lộ": a road
                continue
            if accent_key(" ".join(t.text for t in span)) == accent_key(written):
                found.append((end, written, True))
            elif not any(t.marked for t in span):
                found.append((end, written, False))
        return found

    def _named(
        self, start: int, name_start: int, written: str | None, certain: bool
    ) -> list[Piece]:
        pieces = []
        tokens = self.tokens
        for end in range(name_start + 1, min(len(tokens), name_start + MAX_NAME_WORDS) + 1):
            words = tokens[name_start:end]
            key = "".join(t.fold for t in words)
            if written is None and key.isdigit():
                continue
            entries = self.gazetteer.lookup(key)
            if written is not None:
                levels = TYPE_LEVELS[written]
                entries = tuple(e for e in entries if e.level in levels)
            if entries:
                pieces.append(self._piece(start, end, name_start, written, certain, entries))
        return pieces

    def _unread(self, start: int, name_start: int, written: str) -> list[Piece]:
        """List unread pieces: a type word, then a name running up to the next type word."""
        stop = len(self.tokens)
        for position in range(name_start + 1, len(self.tokens)):
            if any(certain for _, _, certain in self._types_at(position)):
                stop = position
                break
        return [
            self._piece(start, end, name_start, written, True, ())
            for end in range(name_start + 1, stop + 1)
        ]

    def _piece(
        self,
        start: int,
        end: int,
        name_start: int,
        written: str | None,
        certain: bool,
        entries: tuple[Entry, ...],
    ) -> Piece:
        words = self.tokens[name_start:end]
        name = " ".join(t.text for t in words)
        return Piece(
            start,
            end,
            written,
            certain,
            name,
            "".join(t.accent for t in words),
            any(t.marked for t in words),
            entries,
        )


def _tiling_rank(pieces: tuple[Piece, ...]) -> tuple[int, int]:
    """Most named pieces first, then fewest unread pieces (as :func:`_reading_rank`)."""
    named = sum(1 for piece in pieces if piece.entries)
    return (-named, len(pieces) - named)


def _reading_rank(reading: SegmentReading) -> tuple[int, int, int]:
    """Most named pieces first, then fewest unread pieces, then least street."""
    named = sum(1 for piece in reading.pieces if piece.entries)
    unread = sum(1 for piece in reading.pieces if not piece.entries)
    return (-named, unread, reading.street)
