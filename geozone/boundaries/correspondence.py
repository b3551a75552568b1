"""The official old → new correspondence of units (the 1 July 2025 reform).

The ward list is the one shipped by the PyPI package onflow-location-platform
(``converter_2025.json`` and ``dataset.db``, read directly with json/sqlite3; the package is
never imported: its import costs ~2 s and some of its calls reach the network). It says which
new wards each old ward went into, wholly or split, with one successor of each split ward
marked default. Clusters are carried by it (:mod:`geozone.clusters.successors`), and old
addresses are resolved by it (:mod:`geozone.address`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from geozone.errors import DataNotFoundError, SourceFormatError

#: The boundary sets whose transition the onflow correspondence describes (legacy, current).
ONFLOW_SETS = ("vn-legacy-districts", "vn2025")


ONFLOW_PACKAGE = "onflow_location_platform"


ONFLOW_DISTRIBUTION = "onflow-location-platform"


@dataclass(frozen=True)
class Correspondence:
    """An old→new ward correspondence (no shares).

    Attributes
    ----------
    pairs
        One row per (old ward, new ward): ``old_code``, ``old_district_code``, ``old_name``,
        ``new_code``, ``new_province_code``, ``new_name``, ``kind`` ("whole" or "split") and
        ``is_default`` (the successor the source names for a split ward; True for whole).
    aliases
        Old ward code → folded names of earlier wards merged into it (``"xabosao"``).
    provinces
        Old province code → new province code.
    source
        Where it comes from (package and version).
    """

    pairs: pd.DataFrame
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    provinces: Mapping[str, str] = field(default_factory=dict)
    source: str = "user-supplied"

    @classmethod
    def from_pairs(
        cls,
        pairs: pd.DataFrame,
        aliases: Mapping[str, tuple[str, ...]] | None = None,
        provinces: Mapping[str, str] | None = None,
        source: str = "user-supplied",
    ) -> Correspondence:
        """Build from pairs with at least ``old_code``, ``new_code`` and ``is_default``.

        ``kind`` is derived (split when an old code has several successors); missing
        ``old_district_code``, ``old_name``, ``new_name`` and ``new_province_code`` are left
        empty.
        """
        frame = pairs.copy()
        for column in ("old_district_code", "old_name", "new_name", "new_province_code"):
            if column not in frame:
                frame[column] = None
        counts = frame.groupby("old_code")["new_code"].transform("size")
        frame["kind"] = np.where(counts > 1, "split", "whole")
        frame["is_default"] = frame["is_default"].astype(bool) | (counts == 1)
        return cls(frame, dict(aliases or {}), dict(provinces or {}), source)


def onflow_data_dir() -> Path:
    """Return the data folder of onflow-location-platform, located without importing it.

    Raises
    ------
    DataNotFoundError
        When the package or its ``converter_2025.json`` is not installed.
    """
    spec = importlib.util.find_spec(ONFLOW_PACKAGE)
    if spec is None or spec.origin is None:
        raise DataNotFoundError(
            f"the {ONFLOW_DISTRIBUTION} package (old→new ward correspondence) is not installed"
        )
    folder = Path(spec.origin).parent / "data"
    if not (folder / "converter_2025.json").is_file() or not (folder / "dataset.db").is_file():
        raise DataNotFoundError(f"{folder} lacks converter_2025.json or dataset.db")
    return folder


@lru_cache(maxsize=1)
def load_onflow_correspondence() -> Correspondence:
    """Read the 2025 old→new ward correspondence shipped by onflow-location-platform.

    ``converter_2025.json`` names units by folded name keys; ``dataset.db`` gives their GSO
    codes. Cached per process (about 0.1 s).

    Raises
    ------
    DataNotFoundError
        When the package data is missing.
    SourceFormatError
        When a key of the correspondence has no unit in ``dataset.db``.
    """
    folder = onflow_data_dir()
    converter = json.loads((folder / "converter_2025.json").read_text(encoding="utf-8"))
    with closing(sqlite3.connect(f"file:{folder / 'dataset.db'}?mode=ro", uri=True)) as db:
        old = pd.DataFrame(
            db.execute(
                "select provinceKey, districtKey, wardKey, provinceCode, districtCode, wardCode,"
                " ward, wardAlias from admin_units_legacy"
            ).fetchall(),
            columns=[
                "pk",
                "dk",
                "wk",
                "old_province_code",
                "old_district_code",
                "old_code",
                "old_name",
                "alias",
            ],
        )
        new = pd.DataFrame(
            db.execute(
                "select provinceKey, wardKey, provinceCode, wardCode, ward from admin_units"
            ).fetchall(),
            columns=["npk", "nwk", "new_province_code", "new_code", "new_name"],
        )
    old["old_key"] = old["pk"] + "_" + old["dk"] + "_" + old["wk"].fillna("")
    whole = [
        (old_key, npk, nwk, "whole", True)
        for npk, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items()
        for nwk, old_keys in wards.items()
        for old_key in old_keys
    ]
    split = [
        (old_key, npk, entry["newWardKey"], "split", bool(entry["isDefaultNewWard"]))
        for npk, splits in converter["DICT_PROVINCE_WARD_DIVIDED"].items()
        for old_key, entries in splits.items()
        for entry in entries
    ]
    keys = pd.DataFrame(whole + split, columns=["old_key", "npk", "nwk", "kind", "is_default"])
    pairs = keys.merge(old, on="old_key", how="left", validate="many_to_one").merge(
        new, on=["npk", "nwk"], how="left", validate="many_to_one"
    )
    unresolved = pairs["old_province_code"].isna() | pairs["new_code"].isna()
    if unresolved.any():
        sample = pairs.loc[unresolved, ["old_key", "nwk"]].head(5).to_numpy().tolist()
        raise SourceFormatError(f"{folder}: correspondence keys without a unit: {sample}")
    # The five island districts without wards have no ward code: nothing refers to them.
    pairs = pairs[pairs["old_code"].notna()]
    columns = [
        "old_code",
        "old_district_code",
        "old_name",
        "new_code",
        "new_province_code",
        "new_name",
        "kind",
        "is_default",
    ]
    with_alias = old[old["alias"].notna() & old["old_code"].notna()]
    aliases = {
        code: tuple(json.loads(text))
        for code, text in zip(with_alias["old_code"], with_alias["alias"], strict=True)
    }
    new_province = new.drop_duplicates("npk").set_index("npk")["new_province_code"]
    old_province = old.drop_duplicates("pk").set_index("pk")["old_province_code"]
    provinces = {
        str(old_province[old_key]): str(new_province[new_key])
        for new_key, old_keys in converter["DICT_PROVINCE"].items()
        for old_key in old_keys
    }
    version = importlib.metadata.version(ONFLOW_DISTRIBUTION)
    source = f"{ONFLOW_DISTRIBUTION} {version} (converter_2025.json + dataset.db)"
    return Correspondence(pairs[columns].reset_index(drop=True), aliases, provinces, source)
