"""CLI command ``geozone address``: an address's units on a date, and today's successors."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from geozone import vntime
from geozone.address.resolve import resolve_address
from geozone.address.result import AddressResolution
from geozone.boundaries.lineage import Successor
from geozone.cli._common import JsonOption, app, console, parse_date, print_json
from geozone.clusters.successors import (
    BASIS_AREAL,
    BASIS_DISTRICT,
    BASIS_PROVINCE,
    BASIS_SOLE,
    BASIS_SPLIT,
    BASIS_WHOLE,
)
from geozone.errors import UnreadableAddressError
from geozone.text import format_date

#: Short words for the bases of successors, for the table.
BASIS_LABELS = {
    BASIS_WHOLE: "official list: whole",
    BASIS_SPLIT: "official list: split",
    BASIS_SOLE: "official list; share from the old district's overlap",
    BASIS_DISTRICT: "official list; areal overlay",
    BASIS_PROVINCE: "official list; areal overlay",
    BASIS_AREAL: "official list; areal overlay of the ward layer",
}

AddressDateOption = Annotated[
    str | None,
    typer.Option(
        "--date",
        help="The incident's date, YYYY-MM-DD: it picks the set in force (default: today in "
        "Vietnam).",
    ),
]


@app.command("address")
def address_command(
    text: Annotated[
        str,
        typer.Argument(
            help="An address, old (ward, district, province) or new (ward, province) form: "
            "'số 12 ngõ 35 Hoàng Quốc Việt, P. Nghĩa Đô, Q. Cầu Giấy, Hà Nội'."
        ),
    ],
    on: AddressDateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resolve an address to its units on a date, and say where they are today.

    Reads old and new addresses, with or without diacritics, abbreviated (P., Q., TP.,
    TX., H., X., TT.), in any order. An address it cannot read wholly (a part no unit
    fits, a name several units bear) ends with a one-line error naming the part, exit 2;
    with --json the answer is printed first.
    """
    day = parse_date(on) if on else vntime.today()
    result = resolve_address(text, day)
    if as_json:
        print_json(result.to_dict())
    else:
        _print(result)
    problem = result.problem()
    if problem is not None:
        raise UnreadableAddressError(problem)


def _print(result: AddressResolution) -> None:
    """Write the resolution as a few lines and a table of today's successors."""
    for alternative in result.alternatives:
        console.print(
            f"{_names(alternative.read_chain)} — {alternative.read_set} "
            f"{alternative.read_chain[0].code}",
            highlight=False,
        )
    if result.read_chain:
        form = "old form" if result.form == "old" else "new form"
        until = f", until {format_date(result.valid_to)}" if result.valid_to else ""
        console.print(
            f"{_names(result.read_chain)} — {result.read_set} {result.read_chain[0].code} "
            f"({form}{until})",
            highlight=False,
        )
    if result.chain:
        where = f"{_names(result.chain)}, {result.level} level"
        if result.candidates:
            where += "; in one of " + ", ".join(unit.full_name for unit in result.candidates)
        console.print(f"on {result.date} ({result.set_id}): {where}", highlight=False)
    if result.successors:
        console.print("today: " + _sentence(result), highlight=False)
        console.print(_successor_table(result.successors))
    if result.predecessors:
        console.print(
            "before the reform: " + ", ".join(p.full_name for p in result.predecessors),
            highlight=False,
        )
    if result.street:
        console.print(f"street: {result.street}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", style="dim", highlight=False)


def _names(chain: tuple[object, ...]) -> str:
    return ", ".join(str(getattr(unit, "full_name", unit)) for unit in chain)


def _sentence(result: AddressResolution) -> str:
    """Say in Vietnamese where the unit read went."""
    unit = result.read_chain[0]
    until = format_date(result.valid_to) if result.valid_to else ""
    targets = ", ".join(s.full_name for s in result.successors)
    return f"{unit.full_name} (đến {until}) → nay thuộc {targets}"


def _successor_table(found: tuple[Successor, ...]) -> Table:
    table = Table("code", "successor", "share of old", "share of new", "basis")
    for successor in found:
        table.add_row(
            successor.code,
            successor.full_name + (" (default)" if successor.default and len(found) > 1 else ""),
            _share(successor.share_of_old),
            _share(successor.share_of_new),
            BASIS_LABELS.get(successor.basis, successor.basis),
        )
    return table


def _share(value: float | None) -> str:
    if value is None:
        return "unknown"
    return "<1%" if 0 < value < 0.005 else f"{value:.0%}"
