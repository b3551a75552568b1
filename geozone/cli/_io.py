"""``-`` for standard input and output in the incident commands (assign, import, export).

The readers and writers of incident files work on paths (they seek, and GeoPackage and
Parquet are not streams), so standard input is first copied to a temporary file and a
result for standard output is written to one and then copied out. The format of standard
input is given (``--format``) or sniffed from its first bytes; the format of standard
output must be given.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import typer

#: The suffix of each format named by ``--format``.
FORMAT_SUFFIXES = {"csv": ".csv", "geojson": ".geojson", "gpkg": ".gpkg", "parquet": ".parquet"}
#: What ``-`` means in a command's help.
STDIO = "-"


def is_stdio(path: Path | str | None) -> bool:
    """Return whether ``path`` is ``-`` (standard input or output)."""
    return path is not None and str(path) == STDIO


def format_suffix(fmt: str | None, option: str = "--format") -> str | None:
    """Return the suffix of a ``--format`` value (None for None), or fail naming the choices."""
    if fmt is None:
        return None
    suffix = FORMAT_SUFFIXES.get(fmt.lower().lstrip("."))
    if suffix is None:
        raise typer.BadParameter(
            f"{fmt!r} is not one of {', '.join(FORMAT_SUFFIXES)}", param_hint=option
        )
    return suffix


def sniff_format(head: bytes) -> str:
    """Return the incident file format of a file that starts with ``head``.

    Parquet files start with ``PAR1``, GeoPackages with the SQLite header, GeoJSON with
    ``{`` (after blanks and a byte-order mark); anything else is read as CSV.
    """
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{"):
        return "geojson"
    return "csv"


@contextmanager
def input_file(
    source: Path, fmt: str | None, *, stdin: BinaryIO | None = None, option: str = "--format"
) -> Iterator[Path]:
    """Yield a path to read: ``source``, or standard input copied to a temporary file.

    ``fmt`` names the format of standard input (sniffed from its first bytes when None);
    a file's own suffix says its format.
    """
    suffix = format_suffix(fmt, option)
    if not is_stdio(source):
        if not source.exists():
            raise typer.BadParameter(f"{source} does not exist", param_hint="SOURCE")
        yield source
        return
    stream = stdin if stdin is not None else sys.stdin.buffer
    with tempfile.TemporaryDirectory(prefix="geozone-stdin-") as folder:
        head = stream.read(64 * 1024)
        if not head:
            raise typer.BadParameter("standard input is empty", param_hint="SOURCE")
        suffix = suffix or FORMAT_SUFFIXES[sniff_format(head)]
        path = Path(folder) / f"stdin{suffix}"
        with path.open("wb") as out:
            out.write(head)
            shutil.copyfileobj(stream, out, 1024 * 1024)
        yield path


class StdoutSpool:
    """The file a command writes: ``output`` itself, or a temporary one for ``-``.

    :attr:`path` is where to write; :meth:`finish` copies a temporary file to standard
    output (once the file is complete) and removes it. A command that fails before
    :meth:`finish` writes nothing to standard output.
    """

    def __init__(
        self,
        output: Path,
        fmt: str | None,
        *,
        option: str = "--format",
        formats: Collection[str] = tuple(FORMAT_SUFFIXES),
    ) -> None:
        if fmt is not None and fmt.lower().lstrip(".") not in formats:
            raise typer.BadParameter(
                f"{fmt!r} is not one of {', '.join(formats)}", param_hint=option
            )
        suffix = format_suffix(fmt, option)
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        if not is_stdio(output):
            self.path = output
            return
        if suffix is None:
            raise typer.BadParameter(
                f"-o - writes to standard output: say its format with {option} {'|'.join(formats)}",
                param_hint=option,
            )
        self._folder = tempfile.TemporaryDirectory(prefix="geozone-stdout-")
        self.path = Path(self._folder.name) / f"stdout{suffix}"

    def finish(self, stdout: BinaryIO | None = None) -> None:
        """Copy the written file to standard output (for ``-``) and clean up."""
        if self._folder is None:
            return
        sys.stdout.flush()
        stream = stdout if stdout is not None else sys.stdout.buffer
        with self.path.open("rb") as written:
            shutil.copyfileobj(written, stream, 1024 * 1024)
        stream.flush()
        self.cleanup()

    def cleanup(self) -> None:
        """Remove the temporary file, if any (nothing is written out)."""
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


@contextmanager
def output_file(spool: StdoutSpool, stdout: BinaryIO | None = None) -> Iterator[Path]:
    """Yield the spool's path; copy it to standard output when the block ends without error.

    A failed command writes nothing to standard output.
    """
    try:
        yield spool.path
        spool.finish(stdout)
    finally:
        spool.cleanup()
