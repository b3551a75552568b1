"""CSV records located on the file's bytes, so that a broken line is one rejected row.

A CSV file is split into records on its bytes before any parsing (numpy over the buffer):
a record ends at a line break outside quotes. A line with bad UTF-8, a wrong number of
fields or a truncated quoted field is one broken record, rejected with its line number; the
sound records are parsed piece by piece by pyarrow as text columns.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from numpy.typing import NDArray

from geozone.errors import IncidentFileError
from geozone.incidents.io.validate import Reject


class CsvRecords:
    """The records of a CSV file located on its bytes, and the broken ones among them.

    A record ends at a line break outside quotes. A quote counts as structural when it opens
    or closes a field (next to a separator, a line break or the file's ends) or is doubled;
    a stray quote inside an unquoted field (``5"6``) is text, as the parser reads it.
    """

    def __init__(self, data: bytes) -> None:
        self.offset = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        self.data = data
        buf = np.frombuffer(data, dtype=np.uint8)
        head = data[self.offset : self.offset + 65536].split(b"\n", 1)[0]
        self.sep = max(b",;\t", key=head.count)
        breaks = np.flatnonzero(buf == ord("\n"))
        quotes = _structural_quotes(buf, self.sep, self.offset)
        inside = np.searchsorted(quotes, breaks) % 2 == 1
        ends = breaks[~inside]
        starts = np.concatenate(([self.offset], ends + 1))
        stops = np.concatenate((ends, [len(buf)]))
        if starts[-1] >= len(buf):  # the file ends with a line break: no last record
            starts, stops = starts[:-1], stops[:-1]
        self.truncated = len(quotes) % 2 == 1  # the last record ends inside a quoted field
        self.lines = np.searchsorted(breaks, starts) + 1  # the line each record starts on
        content = stops - starts - (buf[np.maximum(stops - 1, 0)] == ord("\r"))
        self.blank = content <= 0
        separators = np.flatnonzero(buf == self.sep)
        separators = separators[np.searchsorted(quotes, separators) % 2 == 0]
        self.fields = np.searchsorted(separators, stops) - np.searchsorted(separators, starts) + 1
        self.starts, self.stops = starts, stops
        self.reasons = self._problems(buf)
        self.broken = ~self.blank & pd.notna(self.reasons)
        self.broken[:1] = False  # the header is checked by header()
        self.sound = ~self.blank & ~self.broken
        self.sound[:1] = False

    def _problems(self, buf: NDArray[np.uint8]) -> NDArray[np.object_]:
        """Why each record is broken (None: sound); one reason per record."""
        n = len(self.starts)
        reasons = np.full(n, None, dtype=object)
        expected = int(self.fields[0]) if n else 0
        for row in np.flatnonzero(~self.blank & (self.fields != expected)):
            found = int(self.fields[row])
            reasons[row] = f"{found} fields where the header has {expected}: " + (
                "the row is cut short" if found < expected else "extra fields"
            )
        if self.truncated and n:
            reasons[-1] = "the file ends inside a quoted field (the last line is truncated)"
        for position in _invalid_utf8(self.data):
            hit = int(np.searchsorted(self.starts, position, side="right")) - 1
            if reasons[hit] is None or "UTF-8" not in reasons[hit]:
                column = int(position) - int(self.starts[hit]) + 1
                reasons[hit] = (
                    f"invalid UTF-8: byte 0x{buf[position]:02X} at byte {column} of the line; "
                    "save the file as UTF-8"
                )
        return reasons

    def header(self) -> list[str]:
        """Return the column names, made unique as pandas does (``a``, ``a.1``)."""
        if not len(self.starts):
            raise IncidentFileError("the file is empty")
        if self.reasons[0] is not None and "UTF-8" in str(self.reasons[0]):
            raise IncidentFileError(f"line 1 (the header): {self.reasons[0]}")
        text = self.data[self.starts[0] : self.stops[0]].decode("utf-8").rstrip("\r")
        names = next(csv.reader([text], delimiter=chr(self.sep)), [])
        seen: dict[str, int] = {}
        unique = []
        for name in names:
            count = seen.get(name, 0)
            seen[name] = count + 1
            unique.append(name if not count else f"{name}.{count}")
        return unique

    def parse(self, names: list[str], chosen: NDArray[np.intp]) -> pd.DataFrame:
        """Parse the chosen sound records as text columns named ``names`` (pyarrow)."""
        body = self._join(np.concatenate(([0], chosen)))
        table = pa_csv.read_csv(
            io.BytesIO(body),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(
                delimiter=chr(self.sep), newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        if table.num_rows != len(chosen):
            raise IncidentFileError(
                f"{len(chosen)} sound rows were read as {table.num_rows}; check the file's quotes"
            )
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def _join(self, chosen: NDArray[np.intp]) -> bytes:
        """Return the bytes of the chosen records (ascending), one slice per run of them."""
        if len(chosen) == len(self.starts) and not self.offset:
            return self.data
        breaks = np.flatnonzero(np.diff(chosen) != 1) + 1
        pieces = []
        for run in np.split(chosen, breaks):
            if not len(run):
                continue
            stop = int(self.stops[run[-1]])
            end = stop + 1 if stop < len(self.data) else stop  # with its line break
            piece = self.data[int(self.starts[run[0]]) : end]
            pieces.append(piece if piece.endswith(b"\n") else piece + b"\n")
        return b"".join(pieces)

    def rejects(self, chosen: NDArray[np.intp]) -> list[Reject]:
        """One reject per chosen broken record."""
        return [Reject(int(self.lines[row]), None, "row", str(self.reasons[row])) for row in chosen]


def _structural_quotes(buf: NDArray[np.uint8], sep: int, offset: int) -> NDArray[np.intp]:
    """Positions of the quotes that open, close or double inside a quoted field."""
    quotes = np.flatnonzero(buf == ord('"'))
    if not len(quotes):
        return quotes
    edge = (ord("\n"), ord("\r"), sep, ord('"'))
    before = buf[np.maximum(quotes - 1, 0)]
    after = buf[np.minimum(quotes + 1, len(buf) - 1)]
    structural = (
        (quotes == offset) | (quotes == len(buf) - 1) | np.isin(before, edge) | np.isin(after, edge)
    )
    found: NDArray[np.intp] = quotes[structural]
    return found


def _invalid_utf8(data: bytes) -> list[int]:
    """Byte positions where ``data`` is not UTF-8 (one per bad sequence)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return []
    found: list[int] = []

    def note(error: UnicodeError) -> tuple[str, int]:
        assert isinstance(error, UnicodeDecodeError)
        found.append(error.start)
        return "\ufffd", error.end

    codecs.register_error("geozone-note", note)  # the latest registration wins
    data.decode("utf-8", errors="geozone-note")
    return found


#: Bytes read at a time when a CSV file is streamed (a record longer than this is read whole).
BLOCK_BYTES = 32 << 20


class CsvBlocks:
    """A CSV file read in blocks of whole records, each a :class:`CsvRecords` with the header.

    Every block is the header followed by the next records up to a line break outside
    quotes, so each is judged exactly as the same records are in the whole file (record 0
    is the header; :attr:`line_shift` maps a block's lines to the file's). Memory holds one
    block at a time, however large the file; a record that runs past a block (a quoted field
    never closed) makes the block grow until it ends, as it would run to the end of a file.
    """

    def __init__(self, path: Path, block_bytes: int | None = None) -> None:
        self.path = path
        self.block_bytes = block_bytes or BLOCK_BYTES
        with path.open("rb") as handle:
            first = handle.read(self.block_bytes)
            while True:
                offset = 3 if first.startswith(b"\xef\xbb\xbf") else 0
                head = first[offset : offset + 65536].split(b"\n", 1)[0]
                sep = max(b",;\t", key=head.count)
                cut = _last_record_end(first, sep, offset, first=True)
                more = b"" if cut is not None else handle.read(self.block_bytes)
                if cut is not None or not more:
                    break
                first += more
        self.header_bytes = first if cut is None else first[:cut]
        self.head = CsvRecords(self.header_bytes)
        self.header_lines = self.header_bytes.count(b"\n")

    def header(self) -> list[str]:
        """Return the column names (see :meth:`CsvRecords.header`)."""
        return self.head.header()

    def __iter__(self) -> Iterator[tuple[CsvRecords, int]]:
        """Yield (a block's records, the shift from its line numbers to the file's)."""
        newlines = self.header_lines  # line breaks before the carried bytes, in the file
        with self.path.open("rb") as handle:
            handle.seek(len(self.header_bytes))
            carry = b""
            while True:
                data = handle.read(self.block_bytes)
                buf = carry + data
                if not buf:
                    return
                cut = len(buf) if not data else _last_record_end(buf, self.head.sep)
                if cut is None:  # no record ends in it: read on
                    carry = buf
                    continue
                block, carry = buf[:cut], buf[cut:]
                yield CsvRecords(self.header_bytes + block), newlines - self.header_lines
                newlines += block.count(b"\n")
                if not data:
                    return

    def spans(self, target_bytes: int) -> Iterator[tuple[int, int, int]]:
        """Cut the rows into spans of whole records of about ``target_bytes`` bytes.

        Yield (first byte, end byte, line shift) of each, found on a light pass (line breaks
        and quotes only).
        """
        position = len(self.header_bytes)
        newlines = self.header_lines
        with self.path.open("rb") as handle:
            handle.seek(position)
            carry = b""
            while True:
                data = handle.read(max(1, target_bytes))
                buf = carry + data
                if not buf:
                    return
                cut = len(buf) if not data else _last_record_end(buf, self.head.sep)
                if cut is None:
                    carry = buf
                    continue
                yield position, position + cut, newlines - self.header_lines
                newlines += buf.count(b"\n", 0, cut)
                position += cut
                carry = buf[cut:]
                if not data:
                    return

    def span(self, first: int, end: int) -> CsvRecords:
        """Return the records of one span (see :meth:`spans`), after the header."""
        with self.path.open("rb") as handle:
            handle.seek(first)
            return CsvRecords(self.header_bytes + handle.read(end - first))

    def count(self) -> int:
        """Count the rows (records after the header that are not blank) on a light pass."""
        total = 0
        with self.path.open("rb") as handle:
            for first, end, _ in self.spans(self.block_bytes):
                handle.seek(first)
                total += _count_records(handle.read(end - first), self.head.sep)
        return total


def _count_records(buf: bytes, sep: int) -> int:
    """Count the records of whole records ``buf`` that are not blank (line breaks, quotes)."""
    array = np.frombuffer(buf, dtype=np.uint8)
    breaks = np.flatnonzero(array == ord("\n"))
    quotes = _structural_quotes(array, sep, 0)
    ends = breaks[np.searchsorted(quotes, breaks) % 2 == 0]
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(array)]))
    if starts[-1] >= len(array):
        starts, stops = starts[:-1], stops[:-1]
    content = stops - starts - (array[np.maximum(stops - 1, 0)] == ord("\r"))
    return int((content > 0).sum())


def _last_record_end(buf: bytes, sep: int, offset: int = 0, *, first: bool = False) -> int | None:
    """Return the position after the last line break outside quotes in ``buf``, or None.

    ``first`` asks for the first such break; ``buf`` starts at the start of a record (after
    ``offset`` bytes).
    """
    array = np.frombuffer(buf, dtype=np.uint8)
    breaks = np.flatnonzero(array == ord("\n"))
    if not len(breaks):
        return None
    quotes = _structural_quotes(array, sep, offset)
    outside = breaks[np.searchsorted(quotes, breaks) % 2 == 0]
    if not len(outside):
        return None
    return int(outside[0 if first else -1]) + 1
