"""The figures the generator draws with: mixture, category mixes, diurnal profiles, delays.

Each table is explained in :mod:`geozone.incidents.synthetic`; the shares come from the
reports (../shared/seeds) where they say something, and are plausible guesses otherwise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from geozone.incidents.schema import CATEGORIES

#: Shares of the three components of the mixture (see the module notes).
MIXTURE: dict[str, float] = {"hotspot": 0.15, "border": 0.35, "background": 0.50}


#: Background ward weight: ``area_km2 ** AREA_EXPONENT × (URBAN_FACTOR if Phường else 1)``.
AREA_EXPONENT = 0.3


URBAN_FACTOR = 8.0


#: Hotspot gaussian sigma as a share of the hotspot radius.
HOTSPOT_SIGMA_SHARE = 0.5


#: Border offset Laplace scale as a share of the cluster's border-zone width.
BORDER_SCALE_SHARE = 0.25


#: Member boundaries closer than this many metres are shared lines.
SNAP_M = 2.0


#: How often hotspot and border points outside every unit are drawn again.
REDRAW_ROUNDS = 8


#: Shares of the detecting unit for cluster points: holder, neighbour across the boundary,
#: unknown, non-member unit, member without territory (folded into holder when none).
DETECTION_SHARES: dict[str, float] = {
    "holder": 0.58,
    "neighbour": 0.30,
    "unknown": 0.06,
    "non_member": 0.04,
    "organisation": 0.02,
}


#: Share of background incidents whose detecting unit is unknown.
BACKGROUND_UNKNOWN = 0.15


#: jointly_handled probability: hotspot, background; border is base + peak × exp(-d/scale).
JOINT_HOTSPOT, JOINT_BACKGROUND, JOINT_BORDER_BASE, JOINT_BORDER_PEAK = 0.40, 0.03, 0.10, 0.50


#: National mix of categories (background), shares summing to 1.
NATIONAL_MIX: dict[str, float] = {
    "theft": 0.27,
    "traffic": 0.16,
    "public_order": 0.12,
    "drugs": 0.12,
    "fraud": 0.08,
    "assault": 0.07,
    "robbery": 0.05,
    "gambling": 0.05,
    "pavement_encroachment": 0.03,
    "sanitation": 0.02,
    "prostitution": 0.01,
    "loan_sharking": 0.01,
    "fire_safety": 0.01,
}


#: Category mix per cluster (by original id; carried clusters use ``carried_from``).
CATEGORY_MIX: dict[str, dict[str, float]] = {
    "hoa-do-phuc-vi": {
        "drugs": 0.25,
        "prostitution": 0.15,
        "theft": 0.25,
        "pavement_encroachment": 0.20,
        "sanitation": 0.15,
    },
    "viet-tri-vinh-tuong-lap-thach": {"drugs": 0.35, "theft": 0.40, "loan_sharking": 0.25},
    "song-cau-quy-nhon": {
        "theft": 0.35,
        "robbery": 0.15,
        "drugs": 0.20,
        "gambling": 0.15,
        "assault": 0.10,
        "fraud": 0.05,
    },
    "gia-lam": {
        "theft": 0.30,
        "drugs": 0.15,
        "robbery": 0.10,
        "traffic": 0.15,
        "public_order": 0.10,
        "gambling": 0.10,
        "fraud": 0.10,
    },
    "can-tho-an-giang": {
        "theft": 0.30,
        "drugs": 0.20,
        "gambling": 0.15,
        "robbery": 0.10,
        "fraud": 0.10,
        "public_order": 0.15,
    },
}


#: Probability that an incident of each category is solved.
SOLVED_PROBABILITY: dict[str, float] = {
    "drugs": 0.85,
    "theft": 0.60,
    "robbery": 0.70,
    "loan_sharking": 0.55,
    "prostitution": 0.80,
    "gambling": 0.90,
    "assault": 0.80,
    "fraud": 0.40,
    "pavement_encroachment": 0.95,
    "sanitation": 0.95,
    "traffic": 0.97,
    "public_order": 0.85,
    "fire_safety": 0.95,
}


#: Probability of 0, 1, 2 and 3 subjects per category.
SUBJECTS_PROBABILITY: dict[str, tuple[float, float, float, float]] = {
    "drugs": (0.02, 0.60, 0.28, 0.10),
    "theft": (0.35, 0.50, 0.12, 0.03),
    "robbery": (0.30, 0.45, 0.20, 0.05),
    "loan_sharking": (0.10, 0.45, 0.30, 0.15),
    "prostitution": (0.00, 0.50, 0.35, 0.15),
    "gambling": (0.00, 0.20, 0.35, 0.45),
    "assault": (0.05, 0.55, 0.30, 0.10),
    "fraud": (0.40, 0.45, 0.12, 0.03),
    "pavement_encroachment": (0.00, 0.85, 0.12, 0.03),
    "sanitation": (0.05, 0.85, 0.08, 0.02),
    "traffic": (0.00, 0.90, 0.08, 0.02),
    "public_order": (0.00, 0.40, 0.35, 0.25),
    "fire_safety": (0.10, 0.85, 0.05, 0.00),
}


#: Relative weight of each hour of the day (0-23, Vietnam time) per profile.
DIURNAL: dict[str, tuple[float, ...]] = {
    # drugs, prostitution, gambling: late evening and night
    "night": (8, 7, 6, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4, 6, 8, 9, 10, 9),
    # pavement, sanitation, traffic, fire safety: working day, rush hours
    "day": (0.5, 0.3, 0.2, 0.2, 0.5, 2, 5, 8, 8, 6, 6, 6, 5, 5, 6, 6, 7, 8, 7, 4, 3, 2, 1, 1),
    # theft, robbery, assault, public order: all day, evening peak, some pre-dawn burglary
    "evening": (4, 4, 4, 3, 2, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4, 5, 6, 7, 8, 8, 7, 5),
    # fraud, loan-sharking: office hours
    "office": (0.5, 0.2, 0.2, 0.2, 0.2, 0.5, 1, 3, 6, 7, 7, 6, 4, 5, 6, 6, 6, 5, 4, 3, 2, 2, 1, 1),
}


CATEGORY_PROFILE: dict[str, str] = {
    "drugs": "night",
    "prostitution": "night",
    "gambling": "night",
    "pavement_encroachment": "day",
    "sanitation": "day",
    "traffic": "day",
    "fire_safety": "day",
    "theft": "evening",
    "robbery": "evening",
    "assault": "evening",
    "public_order": "evening",
    "fraud": "office",
    "loan_sharking": "office",
}


#: Median delay from occurrence to detection in minutes per category (lognormal, sigma 1).
DETECTION_DELAY_MIN: dict[str, float] = {
    "drugs": 30,
    "prostitution": 30,
    "gambling": 30,
    "theft": 90,
    "robbery": 20,
    "assault": 15,
    "fraud": 720,
    "loan_sharking": 600,
    "pavement_encroachment": 5,
    "sanitation": 10,
    "traffic": 3,
    "public_order": 10,
    "fire_safety": 60,
}


DELAY_SIGMA = 1.0


#: Longest detection delay drawn (30 days), in seconds.
MAX_DELAY_S = 30 * 86_400


_CODES = np.array(list(CATEGORIES), dtype=object)


_CODE_INDEX = {code: i for i, code in enumerate(_CODES)}


_HOTSPOT, _BORDER, _BACKGROUND = 0, 1, 2


_ROLE_NAMES = ("holder", "neighbour", "unknown", "non_member", "organisation")


_ROLE_HOLDER, _ROLE_NEIGHBOUR, _ROLE_UNKNOWN, _ROLE_NON_MEMBER, _ROLE_ORGANISATION = range(5)


def _table(values: dict[str, float]) -> NDArray[np.float64]:
    return np.array([values[str(code)] for code in _CODES], dtype=np.float64)


_SOLVED = _table(SOLVED_PROBABILITY)


_SUBJECT_CDF = np.cumsum(np.array([SUBJECTS_PROBABILITY[str(c)] for c in _CODES]), axis=1)


_DELAY_MEDIAN_S = _table(DETECTION_DELAY_MIN) * 60.0
