"""What every hotspot analysis shares: parameter checks, incident points, UTM work, Gi*.

- checks of the parameters, each error naming the parameter;
- the incidents' usable points, the UTM zone of a study and the conversions to it;
- the Gi* engine (esda) and the decision per cell (FDR, significance, confidence), with
  the messages the results carry, each written in Vietnamese and in English
  (``message_vi``, ``message_en``; ``message`` is the English one opened with the
  bilingual mark of synthetic data, as it always was).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, TypedDict

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from libpysal.graph import Graph
from numpy.typing import NDArray
from scipy import stats
from shapely.geometry.base import BaseGeometry

from geozone.analysis.hotspots.results import (
    CONFIDENCE_LEVELS,
    MAX_CELL_M,
    MAX_PERMUTATIONS,
    CellShape,
)
from geozone.crs import WGS84, project_xy, utm_epsg
from geozone.errors import AnalysisInputError, InvalidParameterError
from geozone.labels import SYNTHETIC_NOTE, SYNTHETIC_NOTE_LABEL, Label
from geozone.text import format_number

# -- validation --------------------------------------------------------------------------------


def _check_metres(name: str, value: float, upper: float = MAX_CELL_M) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number of metres, not {value!r}") from None
    if not math.isfinite(number) or number <= 0 or number > upper:
        raise InvalidParameterError(
            f"{name} must be a number of metres in (0, {upper:,.0f}], not {value!r}"
        )
    return number


def _check_int(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidParameterError(f"{name} must be a whole number, not {value!r}")
    if not low <= int(value) <= high:
        raise InvalidParameterError(f"{name} must be in [{low:,}, {high:,}], not {value}")
    return int(value)


def _check_alpha(alpha: float) -> float:
    try:
        number = float(alpha)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"alpha must be a number in (0, 1), not {alpha!r}") from None
    if not 0.0 < number < 1.0:
        raise InvalidParameterError(f"alpha must be in (0, 1), not {alpha!r}")
    return number


def _check_shape(shape: str) -> CellShape:
    if shape == "square":
        return "square"
    if shape == "hexagon":
        return "hexagon"
    raise InvalidParameterError(f"shape must be 'square' or 'hexagon', not {shape!r}")


def _check_test(
    permutations: int, seed: int, alpha: float, min_incidents: int
) -> tuple[int, int, float, int]:
    return (
        _check_int("permutations", permutations, 0, MAX_PERMUTATIONS),
        _check_int("seed", seed, 0, 2**32 - 1),
        _check_alpha(alpha),
        _check_int("min_incidents", min_incidents, 1, 10**9),
    )


def _check_area(area: BaseGeometry | None) -> BaseGeometry | None:
    if area is None:
        return None
    if not isinstance(area, BaseGeometry) or area.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidParameterError(
            f"area must be a shapely Polygon or MultiPolygon in EPSG:4326, not {area!r:.80}"
        )
    if area.is_empty:
        raise InvalidParameterError("area is empty")
    minx, miny, maxx, maxy = area.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise InvalidParameterError("area must be in lon/lat degrees (EPSG:4326)")
    return area if area.is_valid else shapely.make_valid(area)


# -- incidents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Points:
    """Usable incident coordinates and where they came from."""

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    rows: NDArray[np.intp]
    synthetic: bool


def _incident_points(incidents: pd.DataFrame) -> _Points:
    """Return the lon/lat of the incidents that have usable coordinates."""
    if not isinstance(incidents, pd.DataFrame):
        raise AnalysisInputError(
            f"incidents must be a (Geo)DataFrame, not {type(incidents).__name__}"
        )
    if isinstance(incidents, gpd.GeoDataFrame) and incidents.active_geometry_name is not None:
        geoms = incidents.geometry
        if geoms.crs is not None and geoms.crs.to_epsg() != 4326:
            geoms = geoms.to_crs(4326)
        array = geoms.to_numpy()
        present = ~(shapely.is_missing(array) | shapely.is_empty(array))
        kinds = shapely.get_type_id(array[present])
        if (kinds != 0).any():
            names = sorted(set(kinds[kinds != 0].tolist()))
            raise AnalysisInputError(
                f"incident geometries must be points (found geometry type ids {names})"
            )
        lon = np.full(len(array), np.nan)
        lat = np.full(len(array), np.nan)
        lon[present] = shapely.get_x(array[present])
        lat[present] = shapely.get_y(array[present])
    elif {"lon", "lat"} <= set(incidents.columns):
        lon = pd.to_numeric(incidents["lon"], errors="coerce").to_numpy(np.float64)
        lat = pd.to_numeric(incidents["lat"], errors="coerce").to_numpy(np.float64)
    else:
        raise AnalysisInputError(
            "incidents need a point geometry (EPSG:4326) or lon and lat columns"
        )
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)
    rows = np.flatnonzero(ok)
    synthetic = bool(
        "synthetic" in incidents.columns and incidents["synthetic"].fillna(False).astype(bool).any()
    )
    return _Points(lon[rows], lat[rows], rows, synthetic)


def _zone(points: _Points, area: BaseGeometry | None) -> int:
    """Return the UTM zone of the study area (or of the incidents' median longitude)."""
    if area is not None:
        return int(utm_epsg(float(shapely.point_on_surface(area).x)))
    if len(points.lon):
        return int(utm_epsg(float(np.median(points.lon))))
    return int(utm_epsg(105.0))


def _to_metric(points: _Points, epsg: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return project_xy(points.lon, points.lat, np.full(len(points.lon), epsg, dtype=np.int64))


def _geometry_to_metric(geometry: BaseGeometry, epsg: int) -> BaseGeometry:
    return gpd.GeoSeries([geometry], crs=WGS84).to_crs(epsg).iloc[0]


class Messages(TypedDict):
    """A result's messages (see :func:`_messages`)."""

    message: str
    message_vi: str
    message_en: str


def _messages(synthetic: bool, texts: Label) -> Messages:
    """Return a result's messages from its (Vietnamese, English) text, marked when synthetic.

    ``message`` is the English text opened with :data:`geozone.labels.SYNTHETIC_NOTE` (its
    spelling since the first release); ``message_vi`` and ``message_en`` are each wholly in
    their language, opened with their half of :data:`geozone.labels.SYNTHETIC_NOTE_LABEL`.
    """
    vi, en = texts
    if not synthetic:
        return {"message": en, "message_vi": vi, "message_en": en}
    mark_vi, mark_en = SYNTHETIC_NOTE_LABEL
    return {
        "message": f"{SYNTHETIC_NOTE}: {en}",
        "message_vi": f"{mark_vi}: {vi}",
        "message_en": f"{mark_en}: {en}",
    }


def _join(*texts: Label) -> Label:
    """Join (Vietnamese, English) texts, each language with its own."""
    return "".join(t[0] for t in texts), "".join(t[1] for t in texts)


def _vi(value: float) -> str:
    """Write a count (or a whole number) the Vietnamese way: 1.234."""
    return format_number(value, "vi")


def _vi_decimal(value: float) -> str:
    """Write a level such as α = 0.05 the Vietnamese way (0,05), every digit kept."""
    return f"{value:g}".replace(".", ",")


#: Where incidents were counted, for the "left out" clause: (Vietnamese, English).
STUDY_AREA: Label = ("vùng nghiên cứu", "the study area")
EVERY_UNIT: Label = ("mọi đơn vị", "every unit")
#: Cell shapes in Vietnamese.
SHAPES_VI: dict[str, str] = {"square": "vuông", "hexagon": "lục giác"}


def _neighbours_vi(label: str) -> str:
    """Say a neighbourhood ("queen", "rook", "band 500 m") in Vietnamese."""
    if label == "queen":
        return "lân cận chung cạnh hoặc đỉnh"
    if label == "rook":
        return "lân cận chung cạnh"
    if label.startswith("band ") and label.endswith(" m"):
        return f"lân cận trong vòng {label.removeprefix('band ').removesuffix(' m')} m".replace(
            ".", ","
        )
    return label


def _cells_what(n_cells: int, shape: str, cell_size_m: float, neighbours: str) -> Label:
    """Name the cells tested: "381 square cells of 250 m (queen)", in both languages."""
    shape_vi = SHAPES_VI.get(shape, shape)
    size_vi, size = _vi_decimal(cell_size_m), f"{cell_size_m:g}"
    return (
        f"{_vi(n_cells)} ô {shape_vi} cỡ {size_vi} m ({_neighbours_vi(neighbours)})",
        f"{n_cells:,} {shape} cells of {size} m ({neighbours})",
    )


# -- Gi* ---------------------------------------------------------------------------------------


def _gi_star_permuted(
    i: int,
    z: NDArray[np.float64],
    permuted_ids: NDArray[np.int64],
    weights_i: NDArray[np.float64],
    scaling: float,
) -> NDArray[np.float64]:
    """Return cell ``i``'s Gi* for each permutation: the ``stat_func`` of ``esda.crand.crand``.

    The signature is the one ``crand`` documents for its statistic: the cell's index, the
    values, the permuted ids (indexes into the values without cell ``i``), the cell's
    weights (its self-weight first, then its neighbours') and the scaling (the sum of the
    counts). The cell keeps its own count; its neighbours' counts are drawn.
    """
    self_weight = weights_i[0]
    other_weights = weights_i[1:]
    mask = np.ones(z.shape[0], dtype=np.bool_)
    mask[i] = False
    others = z[mask]
    cardinality = other_weights.shape[0]
    drawn = others[permuted_ids[:, :cardinality].flatten()].reshape(-1, cardinality)
    result: NDArray[np.float64] = (drawn @ other_weights + self_weight * z[i]) / scaling
    return result


def _permuted_statistic() -> Any:
    """Return :func:`_gi_star_permuted` compiled as ``crand`` runs it.

    ``crand`` runs compiled (numba) when numba is installed and calls its ``stat_func``
    from compiled code, so the statistic is compiled then too; without numba libpysal's
    ``jit`` leaves it a Python function, as ``crand`` is then.
    """
    from libpysal.common import jit

    return jit(nopython=True, fastmath=False)(_gi_star_permuted)


def _gi_star(
    y: NDArray[np.float64], graph: Graph, permutations: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the Gi* z-scores and two-sided p-values of ``y`` over ``graph`` (esda).

    The z-scores and normal p-values are ``esda.G_Local``'s. The permutation p-values come
    from esda's public conditional-randomisation engine, ``esda.crand.crand``, with
    ``alternative="folded"`` and the Gi* statistic :func:`_gi_star_permuted` passed as its
    documented ``stat_func``. geozone used to pass esda's private
    ``esda.getisord._g_local_star_crand``; ``G_Local(permutations=…)`` itself cannot give
    the same answer cheaply: its ``p_sim`` is the "directed" alternative (see the package
    notes), and the folded one can only be had from its kept simulations, a cells ×
    permutations array (250,000 × 9,999 floats at the limits: 20 GB). The statistic is the
    same arithmetic as esda's; tests/analysis/test_hotspots.py checks these p-values
    against the folded test over ``G_Local``'s own simulations, so a change in esda shows.
    """
    import esda  # deferred: esda is slow to import and only analyses need it
    from esda.crand import crand

    y = np.asarray(y, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = esda.G_Local(y, graph, transform="B", star=True, permutations=0)
    z = np.asarray(local.Zs, dtype=np.float64)
    if permutations == 0:
        p = np.minimum(1.0, 2.0 * np.asarray(local.p_norm, dtype=np.float64))
    else:
        state = np.random.get_state()  # noqa: NPY002 (esda seeds the legacy global)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p_sim, _ = crand(
                    y,
                    local.w,
                    local.Gs,
                    permutations,
                    False,
                    1,
                    _permuted_statistic(),
                    scaling=y.sum(),
                    seed=seed,
                    alternative="folded",
                )
        finally:
            np.random.set_state(state)  # noqa: NPY002
        # esda returns float32 (k + 1) / (P + 1): snap back to the exact fractions.
        p = np.round(np.asarray(p_sim, dtype=np.float64) * (permutations + 1)) / (permutations + 1)
    undefined = ~np.isfinite(z)
    z = np.where(undefined, np.nan, z)
    p = np.where(undefined | ~np.isfinite(p), np.nan, p)
    return z, p


def _decide(
    z: NDArray[np.float64], p: NDArray[np.float64], alpha: float, fdr: bool
) -> dict[str, NDArray[Any]]:
    """q-values, significance, kind and confidence of each cell."""
    filled = np.where(np.isnan(p), 1.0, p)
    q = stats.false_discovery_control(filled, method="bh") if len(p) else filled
    q = np.where(np.isnan(p), np.nan, q)
    tested = np.where(np.isnan(q if fdr else p), 1.0, q if fdr else p)
    significant = tested <= alpha
    kind = np.where(significant & (z > 0), "hot", np.where(significant & (z < 0), "cold", "none"))
    significant = kind != "none"
    confidence = np.zeros(len(p), dtype=np.int64)
    for level, label in reversed(CONFIDENCE_LEVELS):
        confidence[tested <= level] = label
    return {
        "q_value": np.asarray(q, dtype=np.float64),
        "significant": significant,
        "kind": kind.astype(object),
        "confidence": confidence,
    }


def _cells_frame(
    ids: NDArray[np.object_],
    geometry: NDArray[np.object_],
    counts: NDArray[np.int64],
    z: NDArray[np.float64],
    p: NDArray[np.float64],
    decided: dict[str, NDArray[Any]] | None,
    extra: dict[str, Any] | None = None,
) -> gpd.GeoDataFrame:
    n = len(ids)
    if decided is None:
        decided = {
            "q_value": np.full(n, np.nan),
            "significant": np.zeros(n, dtype=bool),
            "kind": np.full(n, "none", dtype=object),
            "confidence": np.zeros(n, dtype=np.int64),
        }
    data: dict[str, Any] = {
        "cell_id": pd.array(np.asarray(ids, dtype=object), dtype="str"),
        "count": np.asarray(counts, dtype=np.int64),
        "gi_z": np.asarray(z, dtype=np.float64),
        "p_sim": np.asarray(p, dtype=np.float64),
        **decided,
    }
    data["kind"] = pd.array(np.asarray(data["kind"], dtype=object), dtype="str")
    if extra:
        data.update(extra)
    return gpd.GeoDataFrame(data, geometry=geometry, crs=WGS84)


def _resolution_note(n_cells: int, permutations: int, alpha: float, fdr: bool) -> Label:
    """Say when FDR over many cells cannot flag a single 3×3 hot spot at this resolution."""
    if not fdr or permutations == 0:
        return "", ""
    need = math.ceil(n_cells / (alpha * (permutations + 1)) - 1e-9)
    if need <= 9:
        return "", ""
    return (
        f" Lưu ý: với {_vi(permutations)} hoán vị, giá trị p nhỏ nhất là "
        f"1/{_vi(permutations + 1)}; sau hiệu chỉnh FDR trên {_vi(n_cells)} ô, phải có ít nhất "
        f"{_vi(need)} ô đạt giá trị đó thì mới có ô có ý nghĩa: thu hẹp vùng, tăng số hoán vị "
        "hoặc dùng ô lớn hơn để tăng độ nhạy.",
        f" Note: with {permutations:,} permutations the smallest p-value is "
        f"1/{permutations + 1:,}; after FDR over {n_cells:,} cells at least {need:,} cells "
        "must reach it before any is significant: restrict the area, raise permutations or "
        "use larger cells for more power.",
    )


def _tested_message(
    what: Label,
    n_incidents: int,
    kinds: NDArray[Any],
    alpha: float,
    fdr: bool,
    permutations: int,
    seed: int,
    n_outside: int,
    where: Label = STUDY_AREA,
) -> Label:
    hot, cold = int((kinds == "hot").sum()), int((kinds == "cold").sum())
    correction = "FDR-adjusted" if fdr else "no multiple-testing correction"
    correction_vi = "đã hiệu chỉnh FDR" if fdr else "không hiệu chỉnh kiểm định bội"
    inference = (
        f"{permutations:,} permutations, seed {seed}" if permutations else "normal approximation"
    )
    inference_vi = (
        f"{_vi(permutations)} hoán vị, hạt giống {seed}" if permutations else "xấp xỉ chuẩn"
    )
    outside_vi, outside = _outside(n_outside, where)
    return (
        f"Getis–Ord Gi* trên {what[0]}: {_vi(hot)} điểm nóng và {_vi(cold)} điểm lạnh có ý "
        f"nghĩa ở mức α = {_vi_decimal(alpha)} ({correction_vi}; {inference_vi}); "
        f"{_vi(n_incidents)} vụ việc{outside_vi}.",
        f"Getis–Ord Gi* on {what[1]}: {hot:,} hot and {cold:,} cold significant at "
        f"α = {alpha:g} ({correction}; {inference}); {n_incidents:,} incidents{outside}.",
    )


def _outside(n_outside: int, where: Label) -> Label:
    """Say how many incidents outside the area were left out (empty when none)."""
    if not n_outside:
        return "", ""
    return (
        f"; {_vi(n_outside)} vụ việc ngoài {where[0]} không được tính",
        f"; {n_outside:,} outside {where[1]} left out",
    )


def _too_few_message(n: int, minimum: int, n_outside: int, where: Label = STUDY_AREA) -> Label:
    outside_vi, outside = _outside(n_outside, where)
    return (
        f"Quá ít vụ việc để kiểm định ({_vi(n)} < {_vi(minimum)}){outside_vi}.",
        f"Too few incidents to test ({n:,} < {minimum:,}){outside}.",
    )


def _too_few_cells_message(
    n: int, n_nonempty: int, minimum: int, n_outside: int, where: Label = STUDY_AREA
) -> Label:
    """Say that too few cells hold an incident for Gi* to mean anything."""
    outside_vi, outside = _outside(n_outside, where)
    return (
        f"Dữ liệu quá thưa để kiểm định: {_vi(n)} vụ việc chỉ nằm trong {_vi(n_nonempty)} ô "
        f"(cần ít nhất {_vi(minimum)} ô có vụ việc){outside_vi}; không tính Gi*, không có "
        "điểm nóng nào được xác định.",
        f"Data too sparse to test: {n:,} incidents fall in only {n_nonempty:,} cells (at "
        f"least {minimum:,} cells with incidents are needed){outside}; Gi* not run, no hot "
        "spot is claimed.",
    )


def _sparse_note(n_incidents: int, n_nonempty: int, n_cells: int, permutations: int) -> Label:
    """Warn when the incidents are fewer than the cells (most cells empty), else nothing."""
    if n_incidents >= n_cells:
        return "", ""
    head_vi = (
        f" Dữ liệu thưa: {_vi(n_incidents)} vụ việc cho {_vi(n_cells)} ô, chỉ "
        f"{_vi(n_nonempty)} ô có vụ việc; "
    )
    head = (
        f" Sparse data: {n_incidents:,} incidents for {n_cells:,} cells, only "
        f"{n_nonempty:,} of them with incidents; "
    )
    if permutations == 0:
        return (
            head_vi + "xấp xỉ chuẩn không đáng tin với số đếm thưa như vậy (các ô trống cạnh "
            "một vụ việc có thể hiện là điểm nóng): hãy dùng hoán vị (permutations > 0).",
            head + "the normal approximation is unreliable on counts this sparse (empty "
            "cells beside one incident can come out hot): use permutations (> 0).",
        )
    return (
        head_vi + "ý nghĩa được tính bằng hoán vị có điều kiện và hiệu chỉnh FDR, nên ít ô "
        "đạt ý nghĩa; một ô trống chỉ là điểm nóng khi các ô lân cận có nhiều vụ việc hơn "
        "hẳn ngẫu nhiên.",
        head + "significance comes from conditional permutations with FDR, so few cells "
        "reach it; an empty cell is hot only when its neighbours hold far more incidents "
        "than chance.",
    )
