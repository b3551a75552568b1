"""Generated addresses of every ward, and the resolution rate measured on them.

:func:`generate_addresses` writes, for every ward of the legacy register (old form: ward,
district, province) and of the current set (new form: ward, province), the address in the
ways people write it (:data:`VARIANTS`): with the type words, bare names, without
diacritics, abbreviated, in reverse order, after a street part, without commas. All columns
are built at once with pandas string operations.

:func:`measure_resolution` resolves them (:func:`geozone.address.resolve.resolve_addresses`) and
classes each answer: ``correct`` (complete, the right unit), ``partial`` (complete, a unit
holding the right one: the district, when the ward part was taken for a street),
``ambiguous`` (the text fits several units, the right one among them: a homonym the text
does not tell apart), ``unread`` (a part not read) or ``wrong`` (a unit that does not
hold the right one).

A bare name that is only a number ("12" for Phường 12) keeps its type word in every
variant: written alone it is a house number, and the resolver reads it so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from geozone.address.gazetteer import Gazetteer
from geozone.address.resolve import resolutions_frame, resolve_addresses

#: The ways an address is written in the sample.
VARIANTS: tuple[str, ...] = (
    "full",
    "bare",
    "ascii",
    "abbreviated",
    "reversed",
    "street",
    "no_commas",
)
#: Dates the sample's addresses are resolved on: before the reform (old form), after (new).
OLD_FORM_DATE = date(2024, 6, 1)
NEW_FORM_DATE = date(2025, 8, 1)
#: Written abbreviations of the type words.
ABBREVIATIONS: dict[str, str] = {
    "Phường": "P.",
    "Xã": "X.",
    "Thị trấn": "TT.",
    "Đặc khu": "ĐK.",
    "Quận": "Q.",
    "Huyện": "H.",
    "Thị xã": "TX.",
    "Thành phố": "TP.",
    "Tỉnh": "T.",
}
#: Street names that are also ward names in many provinces: the street part must not be
#: read as a unit.
STREETS: tuple[str, ...] = (
    "Trần Hưng Đạo",
    "Lê Lợi",
    "Quang Trung",
    "Hùng Vương",
    "Nguyễn Trãi",
    "Lý Thường Kiệt",
)
OUTCOMES: tuple[str, ...] = ("correct", "partial", "ambiguous", "unread", "wrong")


def ward_table(gazetteer: Gazetteer) -> pd.DataFrame:
    """Every ward of both sets with its type, bare name and parents' (one row per ward).

    Columns: ``set_id``, ``form`` ("old" or "new"), ``code``, ``ward_type``, ``ward``,
    ``district_type``, ``district`` (empty for the current set), ``province_type``,
    ``province``.
    """
    frames = []
    for bset, form in ((gazetteer.legacy, "old"), (gazetteer.current, "new")):
        units = bset.frame[["code", "level", "parent_code", "province_code"]].copy()
        units["type"] = [gazetteer.unit_type(bset.id, c) or "" for c in units["code"]]
        units["bare"] = [gazetteer.bare_name(bset.id, c) for c in units["code"]]
        by_code = units.set_index("code")
        wards = units[units["level"] == "ward"]
        table = pd.DataFrame(
            {
                "set_id": bset.id,
                "form": form,
                "code": wards["code"].to_numpy(),
                "ward_type": wards["type"].to_numpy(),
                "ward": wards["bare"].to_numpy(),
                "province_type": by_code["type"].reindex(wards["province_code"]).to_numpy(),
                "province": by_code["bare"].reindex(wards["province_code"]).to_numpy(),
            }
        )
        district = wards["parent_code"].where(wards["parent_code"] != wards["province_code"])
        table["district_type"] = by_code["type"].reindex(district).fillna("").to_numpy()
        table["district"] = by_code["bare"].reindex(district).fillna("").to_numpy()
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def _strip_diacritics(text: pd.Series) -> pd.Series:
    return (
        text.str.replace("đ", "d")
        .str.replace("Đ", "D")
        .str.normalize("NFD")
        .str.replace(r"[\u0300-\u036f]", "", regex=True)
        .str.lower()
    )


def _join(parts: list[pd.Series], separator: str) -> pd.Series:
    """Join columns row by row with ``separator``, skipping empty parts (vectorised)."""
    joined = parts[0].str.strip()
    for part in parts[1:]:
        part = part.str.strip()
        both = (joined != "") & (part != "")
        joined = (joined + separator + part).where(both, joined + part)
    return joined


def _typed(kind: pd.Series, name: pd.Series) -> pd.Series:
    return (kind + " " + name).where(name != "", "").str.strip()


def _written(table: pd.DataFrame, rng: np.random.Generator) -> dict[str, pd.Series]:
    """Every variant's text for every ward (one column per variant)."""
    ward = _typed(table["ward_type"], table["ward"])
    district = _typed(table["district_type"], table["district"])
    province = _typed(table["province_type"], table["province"])
    full = _join([ward, district, province], ", ")
    abbreviated = _join(
        [
            _typed(table["ward_type"].map(ABBREVIATIONS).fillna(""), table["ward"]),
            _typed(table["district_type"].map(ABBREVIATIONS).fillna(""), table["district"]),
            table["province"],
        ],
        ", ",
    )
    numbers = pd.Series(rng.integers(1, 300, len(table)), index=table.index).astype(str)
    streets = pd.Series(np.array(STREETS)[rng.integers(0, len(STREETS), len(table))])
    street = "số " + numbers + " " + streets.set_axis(table.index)
    numbered_ward = table["ward"].str.fullmatch(r"\d+")
    numbered_district = table["district"].str.fullmatch(r"\d+")
    bare = [
        table["ward"].where(~numbered_ward, ward),
        table["district"].where(~numbered_district, district),
        table["province"],
    ]
    return {
        "full": full,
        "bare": _join(bare, ", "),
        "ascii": _strip_diacritics(full),
        "abbreviated": abbreviated,
        "reversed": _join([province, district, ward], ", "),
        "street": street + ", " + full,
        "no_commas": _strip_diacritics(_join([ward, district, province], " ")),
    }


def generate_addresses(
    gazetteer: Gazetteer, variants: tuple[str, ...] | None = None, seed: int = 19
) -> pd.DataFrame:
    """Addresses of every ward of both sets.

    Parameters
    ----------
    gazetteer
        The legacy and current sets.
    variants
        The variants to write for every ward (all rows × all variants). None: one variant
        per ward, drawn in turn with ``seed`` (every ward once, every variant about
        equally often).
    seed
        Seed of the street numbers and of the drawing.

    Returns
    -------
    pandas.DataFrame
        ``text``, ``variant``, ``form``, ``set_id`` and ``code`` (the ward the text was
        written from), ``date`` (before the reform for the old form, after for the new).
    """
    rng = np.random.default_rng(seed)
    table = ward_table(gazetteer)
    written = _written(table, rng)
    if variants is None:
        drawn = rng.permutation(np.arange(len(table)) % len(VARIANTS))
        choice = np.array(VARIANTS, dtype=object)[drawn]
        text = pd.Series("", index=table.index)
        for name in VARIANTS:
            text = text.where(choice != name, written[name])
        rows = table.assign(text=text, variant=choice)
    else:
        rows = pd.concat(
            [table.assign(text=written[name], variant=name) for name in variants],
            ignore_index=True,
        )
    rows["date"] = rows["form"].map({"old": OLD_FORM_DATE, "new": NEW_FORM_DATE})
    return rows[["text", "variant", "form", "set_id", "code", "date"]].reset_index(drop=True)


@dataclass(frozen=True)
class ResolutionRate:
    """Outcomes of resolving a sample: counts overall and per variant and form."""

    rows: pd.DataFrame

    @property
    def total(self) -> int:
        """Addresses resolved."""
        return len(self.rows)

    def rate(self, outcome: str = "correct") -> float:
        """Share of the addresses with ``outcome``."""
        return float((self.rows["outcome"] == outcome).mean()) if self.total else 0.0

    def table(self) -> pd.DataFrame:
        """Share of each outcome per form and variant (rows), in percent."""
        counts = pd.crosstab([self.rows["form"], self.rows["variant"]], self.rows["outcome"])
        counts = counts.reindex(columns=list(OUTCOMES), fill_value=0)
        shares = counts.div(counts.sum(axis=1), axis=0) * 100
        shares["n"] = counts.sum(axis=1)
        return shares.round(2)

    def to_dict(self) -> dict[str, Any]:
        """Overall shares of each outcome and the number of addresses."""
        return {"total": self.total, **{name: self.rate(name) for name in OUTCOMES}}


def measure_resolution(gazetteer: Gazetteer, sample: pd.DataFrame) -> ResolutionRate:
    """Resolve every address of ``sample`` and class the answers (see the module notes)."""
    results = resolutions_frame(
        resolve_addresses(sample["text"].tolist(), sample["date"].tolist(), gazetteer=gazetteer)
    )
    right_unit = (results["read_set"].to_numpy() == sample["set_id"].to_numpy()) & (
        results["read_code"].to_numpy() == sample["code"].to_numpy()
    )
    among = np.array(
        [
            code in codes
            for code, codes in zip(sample["code"], results["alternative_codes"], strict=True)
        ],
        dtype=bool,
    )
    complete = results["complete"].to_numpy(bool)
    ambiguous = results["ambiguous"].to_numpy(bool)
    holder = _holds(gazetteer, sample, results)
    outcome = np.select(
        [
            complete & right_unit,
            complete & holder,
            ambiguous & among,
            results["read_code"].notna().to_numpy(bool) & ~right_unit & ~holder,
        ],
        ["correct", "partial", "ambiguous", "wrong"],
        default="unread",
    )
    rows = sample.assign(
        outcome=outcome, problem=results["problem"].to_numpy(), got=results["read_code"].to_numpy()
    )
    return ResolutionRate(rows)


def _holds(gazetteer: Gazetteer, sample: pd.DataFrame, results: pd.DataFrame) -> np.ndarray:
    """Tell where the unit read is a parent of the sample's ward, in the ward's set."""
    holds = np.zeros(len(sample), dtype=bool)
    read = results["read_code"].to_numpy(dtype=object)
    for bset in gazetteer.sets:
        here = (sample["set_id"] == bset.id).to_numpy() & (
            results["read_set"].to_numpy(dtype=object) == bset.id
        )
        parent = bset.frame.set_index("code")["parent_code"]
        up = sample["code"].map(parent)
        for _ in range(2):  # district, province
            holds |= here & (up.to_numpy(dtype=object) == read)
            up = up.map(parent)
    return holds
