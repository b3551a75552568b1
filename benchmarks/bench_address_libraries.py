"""Benchmark: the field libraries for old → new addresses, measured on one sample.

Compares ``vietnamadminunits``, ``vietnam-address-converter`` and the onflow package the
project already reads as data (``onflow-location-platform``), and geozone's own resolver,
on the addresses of the seed clusters' members (every old ward of their territories) and
a few hundred wards drawn nationwide, each written in full, without diacritics and
abbreviated. The two libraries that are not dependencies are installed apart, never into
the project's environment::

    python3 -m pip download --no-deps -d /tmp/pkgs vietnamadminunits vietnam-address-converter
    python3 -m uv pip install --target /tmp/addrlibs --no-deps /tmp/pkgs/*.whl
    PYTHONPATH=/tmp/addrlibs .venv/bin/python benchmarks/bench_address_libraries.py

No network is used: the libraries that geocode an address (to pick one successor of a
split ward when a street is given) get a stub that counts the calls and finds nothing.

Figures per library: old-form and new-form parse accuracy (the right unit), the successors
it gives for the sample's old wards against the official list, the four T11 facts checked
against the Hà Nội resolution (DESIGN.md), the share of its old → new pairs whose new ward
overlaps the old ward's district polygon (an independent check: other sources' geometry),
its coverage of our register, and the time per address.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geozone.address.gazetteer import Gazetteer, split_type
from geozone.address.resolve import resolve_addresses
from geozone.address.sample import generate_addresses
from geozone.text import accent_key, fold

SEED = 19
NATIONWIDE = 300
FORMS = ("full", "ascii", "abbreviated")
#: Members of the seed clusters (../shared/seeds): legacy wards, districts and provinces.
SEED_UNITS = (
    "00169", "00157", "00007", "00006",  # Hoa–Đô–Phúc–Vị
    "09097", "08866", "07912", "07909", "07906", "07936",  # Việt Trì – Vĩnh Tường – Lập Thạch
    "018", "004", "017", "326", "325", "261", "260", "262",  # Gia Lâm (districts)
    "557", "540",  # Sông Cầu – Quy Nhơn (districts)
    "92", "89",  # Cần Thơ – An Giang (provinces)
)  # fmt: skip
#: The T11 facts of DESIGN.md (Hà Nội resolution on the 2025 wards): old → new wards.
T11_FACTS = {
    "00169": {"Nghĩa Đô", "Cầu Giấy"},
    "00157": {"Nghĩa Đô", "Ngọc Hà", "Tây Hồ"},
    "00007": {"Ngọc Hà", "Giảng Võ"},
    "00006": {"Ngọc Hà"},
}


def accent(name: object) -> str:
    """A unit name without its type word, diacritics kept (accent key)."""
    text = str(name or "")
    return accent_key(split_type(text, text, None)[1]) if text else ""


def key(name: object) -> str:
    """Fold a unit name without its type word (whatever its capitals)."""
    text = str(name or "")
    return fold(split_type(text, text, None)[1]) if text else ""


def seed_wards(gazetteer: Gazetteer) -> set[str]:
    """Every legacy ward of the seed members' territories."""
    legacy = gazetteer.legacy
    wards = set()
    for code in SEED_UNITS:
        unit = legacy.get(code)
        if unit.level == "ward":
            wards.add(code)
        else:
            wards.update(gazetteer.units_at(legacy.id, code, "ward"))
    return wards


def make_sample(gazetteer: Gazetteer) -> pd.DataFrame:
    """The seed wards and NATIONWIDE others, old form; NATIONWIDE current wards, new form."""
    every = generate_addresses(gazetteer, FORMS, seed=SEED)
    rng = np.random.default_rng(SEED)
    old = every[every["form"] == "old"]
    seeds = seed_wards(gazetteer)
    others = sorted(set(old["code"]) - seeds)
    drawn = set(rng.choice(others, NATIONWIDE, replace=False))
    new_codes = sorted(set(every.loc[every["form"] == "new", "code"]))
    new_drawn = set(rng.choice(new_codes, NATIONWIDE, replace=False)) | {
        "00160", "00008", "00166", "00025", "00103",
    }  # fmt: skip
    sample = every[
        ((every["form"] == "old") & every["code"].isin(seeds | drawn))
        | ((every["form"] == "new") & every["code"].isin(new_drawn))
    ].copy()
    sample["seed"] = sample["code"].isin(seeds)
    return sample.reset_index(drop=True)


def expected_names(gazetteer: Gazetteer, sample: pd.DataFrame) -> pd.DataFrame:
    """Ward and province names of each sample row (to judge name-only answers)."""
    rows = []
    for set_id, code in zip(sample["set_id"], sample["code"], strict=True):
        chain = gazetteer.set(set_id).chain(code)
        rows.append((accent(chain[0].name), accent(chain[-1].name)))
    return pd.DataFrame(rows, columns=["ward_accent", "province_accent"])


def timed(parse: Callable[[str], Any], texts: list[str]) -> tuple[list[Any], float]:
    """Answers and milliseconds per text."""
    start = time.perf_counter()
    answers = []
    for text in texts:
        try:
            answers.append(parse(text))
        except Exception as exc:  # a library failing on one address counts as a miss
            answers.append(exc)
    return answers, (time.perf_counter() - start) / max(1, len(texts)) * 1000


class GeocodeStub:
    """Stands in for a library's geocoder: counts the calls, finds nothing."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, address: str) -> None:
        self.calls += 1


# -- the libraries ---------------------------------------------------------------------------


def adminunit_library(module: str) -> dict[str, Any] | None:
    """vietnamadminunits, or onflow-location-platform (its fork): parse and convert."""
    try:
        if module == "vietnamadminunits":
            import vietnamadminunits as lib
            from vietnamadminunits.converter import converter_2025 as conv

            old = lambda t: lib.parse_address(t, mode="LEGACY")  # noqa: E731
            new = lambda t: lib.parse_address(t, mode="FROM_2025")  # noqa: E731
            convert = lib.convert_address
        else:
            import onflow_location_platform as lib
            from onflow_location_platform.converter import converter_new as conv

            old, new = lib.parse_address_old, lib.parse_address_new
            convert = lib.convert_address_old_to_new
    except ImportError:
        return None
    stub = GeocodeStub()
    conv.get_geo_location = stub
    return {"old": old, "new": new, "convert": convert, "stub": stub}


def adminunit_code(answer: Any) -> str | None:
    return getattr(answer, "ward_code", None) if not isinstance(answer, Exception) else None


def converter_library() -> Any:
    try:
        import vietnam_address_converter as lib
    except ImportError:
        return None
    return lib.create_converter()


def converter_ward(answer: Any) -> tuple[str, str]:
    """Ward and province names (accent keys) of a vietnam-address-converter parse."""
    if isinstance(answer, Exception):
        return "", ""
    parsed = answer.get("parsed") or {}
    return accent(parsed.get("ward_name")), accent(parsed.get("province_name"))


# -- measures --------------------------------------------------------------------------------


def parse_outcomes(
    gazetteer: Gazetteer, sample: pd.DataFrame, names: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Each parser's answer to each address: "right", "wrong" (another unit) or "none".

    geozone answers "none" for a text that fits several units (it lists them); the others
    pick one. vietnam-address-converter has its own codes, so its answers are judged by the
    ward's and the province's names with their diacritics.
    """
    texts = sample["text"].tolist()
    outcome: dict[str, np.ndarray] = {}
    speed: dict[str, float] = {}
    start = time.perf_counter()
    resolved = resolve_addresses(texts, sample["date"].tolist(), gazetteer=gazetteer)
    speed["geozone"] = (time.perf_counter() - start) / len(texts) * 1000
    read = pd.Series(
        [r.read_chain[0].code if r.complete and r.read_chain else None for r in resolved]
    )
    outcome["geozone"] = _judge(read, sample["code"])
    for name in ("onflow-location-platform", "vietnamadminunits"):
        lib = adminunit_library("onflow" if name.startswith("onflow") else name)
        if lib is None:
            continue
        got = []
        elapsed = 0.0
        for form in ("old", "new"):
            part = sample[sample["form"] == form]
            answers, ms = timed(lib[form], part["text"].tolist())
            elapsed += ms * len(part)
            got.append(pd.Series([adminunit_code(a) for a in answers], index=part.index))
        outcome[name] = _judge(pd.concat(got).sort_index(), sample["code"])
        speed[name] = elapsed / len(sample)
    converter = converter_library()
    if converter is not None:
        converter.parse_address_text("phường Quan Hoa, quận Cầu Giấy, Hà Nội")  # build index
        got = []
        elapsed = 0.0
        for form, parse in (
            ("old", converter.parse_address_text),
            ("new", converter.parse_new_address_text),
        ):
            part = sample[sample["form"] == form]
            answers, ms = timed(parse, part["text"].tolist())
            elapsed += ms * len(part)
            got.extend((i, *converter_ward(a)) for i, a in zip(part.index, answers, strict=True))
        frame = pd.DataFrame(got, columns=["i", "ward", "province"]).set_index("i").sort_index()
        said = frame["ward"].where(frame["ward"] != "", None) + "|" + frame["province"]
        outcome["vietnam-address-converter"] = _judge(
            said, names["ward_accent"] + "|" + names["province_accent"]
        )
        speed["vietnam-address-converter"] = elapsed / len(sample)
    return pd.DataFrame(outcome).assign(form=sample["form"], variant=sample["variant"]), speed


def _judge(answer: pd.Series, expected: pd.Series) -> np.ndarray:
    answer = answer.reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    return np.select(
        [answer.isna().to_numpy(), (answer == expected).to_numpy()], ["none", "right"], "wrong"
    )


def rate_table(outcomes: pd.DataFrame, which: str) -> pd.DataFrame:
    """Share (%) of ``which`` answers per form and written variant, and overall."""
    libraries = [c for c in outcomes.columns if c not in ("form", "variant")]
    hits = outcomes[libraries].eq(which).assign(form=outcomes["form"], variant=outcomes["variant"])
    rates = hits.groupby(["form", "variant"]).mean() * 100
    rates.loc[("all", "all"), :] = hits[libraries].mean() * 100
    return rates.round(2)


def official_successors(gazetteer: Gazetteer, codes: list[str]) -> dict[str, set[str]]:
    """Folded names of the successors the official list gives each old ward."""
    pairs = gazetteer.pairs
    found: dict[str, set[str]] = {code: set() for code in codes}
    for old, new in zip(pairs["old_code"], pairs["new_code"], strict=True):
        if old in found:
            found[old].add(key(gazetteer.current.get(new).name))
    return found


def converter_successors(
    converter: Any, gazetteer: Gazetteer, codes: list[str]
) -> dict[str, set[str]]:
    """Folded names of the successors vietnam-address-converter gives each old ward."""
    found = {}
    for code in codes:
        chain = gazetteer.legacy.chain(code)
        answer = converter.convert_old_to_new(
            {
                "ward_name": chain[0].full_name,
                "district_name": chain[1].full_name,
                "province_name": chain[-1].full_name,
            }
        )
        names = set()
        for found_one in [answer.get("result"), *(answer.get("candidates") or [])]:
            ward = (found_one or {}).get("new_ward") or ((found_one or {}).get("new") or {}).get(
                "ward"
            )
            if ward:
                names.add(key(ward["name_with_type"]))
        found[code] = names
    return found


def adminunit_successors(
    lib: dict[str, Any], gazetteer: Gazetteer, codes: list[str], street: str = ""
) -> dict[str, set[str]]:
    """The one successor vietnamadminunits / onflow's converter gives each old ward."""
    found = {}
    for code in codes:
        chain = gazetteer.legacy.chain(code)
        text = street + ", ".join(unit.full_name for unit in chain)
        try:
            answer = lib["convert"](text)
            found[code] = {key(answer.ward)} if getattr(answer, "ward", None) else set()
        except Exception:
            found[code] = set()
    return found


def plausible_pairs(gazetteer: Gazetteer, pairs: pd.DataFrame) -> tuple[float, int]:
    """Share of (old ward, new ward) pairs whose new ward overlaps the old ward's district.

    The old district's polygon (gis.chinhphu.vn) against the new ward's (sapnhap.bando):
    a pair is plausible when the overlap is at least 0.5 % of the new ward. Pairs where a
    polygon is missing are left out. Vectorised over all pairs.
    """
    legacy, current = gazetteer.legacy.frame, gazetteer.current.frame
    district = pairs["old_code"].map(legacy.set_index("code")["parent_code"])
    old_geom = district.map(legacy.set_index("code").geometry)
    new_geom = pairs["new_code"].map(current.set_index("code").geometry)
    present = old_geom.notna() & new_geom.notna()
    olds = old_geom[present].to_numpy()
    news = new_geom[present].to_numpy()
    share = shapely.area(shapely.intersection(olds, news)) / shapely.area(news)
    return float((share >= 0.005).mean()), int(present.sum())


def converter_pairs(converter: Any, gazetteer: Gazetteer) -> pd.DataFrame:
    """vietnam-address-converter's whole mapping on our codes (matched by folded names)."""
    legacy, current = gazetteer.legacy.frame, gazetteer.current.frame
    province_of = {
        key(n): c
        for n, c, lv in zip(legacy["name"], legacy["code"], legacy["level"], strict=True)
        if lv == "province"
    }
    wards = legacy[legacy["level"] == "ward"]
    by_old = {
        (p, key(d), key(n)): c
        for c, n, d, p in zip(
            wards["code"],
            wards["name"],
            wards["parent_code"].map(legacy.set_index("code")["name"]),
            wards["province_code"],
            strict=True,
        )
    }
    new_wards = current[current["level"] == "ward"]
    by_new = {
        (p, key(n)): c
        for c, n, p in zip(
            new_wards["code"], new_wards["name"], new_wards["province_code"], strict=True
        )
    }
    new_province = {
        key(n): c
        for n, c, lv in zip(current["name"], current["code"], current["level"], strict=True)
        if lv == "province"
    }
    rows = []
    for row in converter.data["mapping"]["rows"]:
        old, new = row["old"], row["new"]
        old_code = by_old.get(
            (
                province_of.get(key(old["province_name"])),
                key(old["district_name"]),
                key(old["ward_name"]),
            )
        )
        new_code = by_new.get((new_province.get(key(new["province_name"])), key(new["ward_name"])))
        rows.append((old_code, new_code))
    return pd.DataFrame(rows, columns=["old_code", "new_code"])


def main() -> None:
    gazetteer = Gazetteer.load()
    sample = make_sample(gazetteer)
    names = expected_names(gazetteer, sample)
    print(
        f"sample: {len(sample)} addresses ({int(sample['seed'].sum())} of seed members' wards, "
        f"{len(FORMS)} written forms each, old and new)"
    )
    outcomes, speed = parse_outcomes(gazetteer, sample, names)
    print("\nparse: the right unit read, % (per form and written variant)")
    print(rate_table(outcomes, "right").to_string())
    print("\nparse: another unit read, %")
    print(rate_table(outcomes, "wrong").to_string())
    print("\nms per address:", {k: round(v, 2) for k, v in speed.items()})

    old_codes = sorted(set(sample.loc[sample["form"] == "old", "code"]))
    official = official_successors(gazetteer, old_codes)
    print(f"\nsuccessors of the sample's {len(old_codes)} old wards, against the official list:")
    libraries: dict[str, dict[str, set[str]]] = {"geozone / onflow data": official}
    converter = converter_library()
    if converter is not None:
        libraries["vietnam-address-converter"] = converter_successors(
            converter, gazetteer, old_codes
        )
    for name in ("onflow-location-platform", "vietnamadminunits"):
        lib = adminunit_library("onflow" if name.startswith("onflow") else name)
        if lib is not None:
            libraries[f"{name} convert()"] = adminunit_successors(lib, gazetteer, old_codes)
            split = [c for c in old_codes if len(official[c]) > 1]
            adminunit_successors(lib, gazetteer, split, "số 12 Trần Hưng Đạo, ")
            print(
                f"  {name}: converting the {len(split)} split wards with a street part called "
                f"the geocoder {lib['stub'].calls} times (the address would go to ArcGIS)"
            )
    for name, found in libraries.items():
        same = np.mean([found[c] == official[c] for c in old_codes]) * 100
        split = [c for c in old_codes if len(official[c]) > 1]
        whole_split = np.mean([found[c] == official[c] for c in split]) * 100 if split else 0
        facts = (
            sum(found.get(c, set()) == {key(n) for n in v} for c, v in T11_FACTS.items())
            if all(c in found for c in T11_FACTS)
            else "n/a"
        )
        print(
            f"  {name}: same successors {same:.1f} %; split wards ({len(split)}) with every "
            f"successor {whole_split:.1f} %; T11 facts {facts}/4"
        )
    for code in T11_FACTS:
        print(
            f"    {code}: "
            + "; ".join(f"{n}: {sorted(f.get(code, set()))}" for n, f in libraries.items())
        )

    print("\nwhole old → new lists: pairs whose new ward overlaps the old district (≥ 0.5 %)")
    share, n = plausible_pairs(gazetteer, gazetteer.pairs)
    coverage = (
        gazetteer.pairs["old_code"].nunique() / (gazetteer.legacy.frame["level"] == "ward").sum()
    )
    print(
        f"  onflow data (= vietnamadminunits data): {share:.2%} of {n} pairs; "
        f"register covered {coverage:.2%}"
    )
    if converter is not None:
        pairs = converter_pairs(converter, gazetteer)
        matched = pairs.dropna()
        share, n = plausible_pairs(gazetteer, matched.reset_index(drop=True))
        coverage = matched["old_code"].nunique() / (gazetteer.legacy.frame["level"] == "ward").sum()
        print(
            f"  vietnam-address-converter: {share:.2%} of {n} pairs; "
            f"{len(pairs) - len(matched)} of {len(pairs)} rows not matched to our codes by name; "
            f"register covered {coverage:.2%}"
        )


if __name__ == "__main__":
    main()
