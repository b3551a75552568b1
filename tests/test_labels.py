"""The label catalogue names the rule table's and the schema's labels, and is what outputs use."""

from __future__ import annotations

from api.services import analytics as analytics_service
from geozone import labels
from geozone.analysis.hotspots import _common as hotspots_common
from geozone.assignment import rules
from geozone.incidents.schema import CATEGORIES
from geozone.report import SYNTHETIC_LABEL
from geozone.report import sections as report_sections
from maps import analytics_layers
from maps.cluster_map import POPUP_LABELS
from maps.cluster_map import RULE_LABELS as MAP_RULE_LABELS


def test_rules_and_categories_are_their_sources() -> None:
    assert labels.RULE_LABELS is rules.RULE_LABELS
    assert {code: (c.vi, c.en) for code, c in CATEGORIES.items()} == labels.CATEGORY_LABELS
    assert set(labels.KINDS) == {c.kind for c in CATEGORIES.values()}


def test_outputs_use_the_catalogue() -> None:
    assert SYNTHETIC_LABEL is labels.SYNTHETIC_LABEL
    assert hotspots_common.SYNTHETIC_NOTE is labels.SYNTHETIC_NOTE
    assert analytics_layers.SYNTHETIC_LABEL_TEXT is labels.SYNTHETIC_LABEL_TEXT
    assert analytics_service.SYNTHETIC_LABEL_TEXT is labels.SYNTHETIC_LABEL_TEXT
    # What a study's count counts: one phrase, wherever a study's count is shown.
    assert analytics_service.STUDY_COUNT_BASIS_TEXT is labels.STUDY_COUNT_BASIS_TEXT
    assert analytics_layers.STUDY_COUNT_BASIS_TEXT is labels.STUDY_COUNT_BASIS_TEXT
    assert report_sections.STUDY_COUNT_BASIS is labels.STUDY_COUNT_BASIS
    assert MAP_RULE_LABELS is rules.RULE_LABELS
    assert POPUP_LABELS["synthetic_html"] == "DỮ LIỆU MÔ PHỎNG / SYNTHETIC"


def test_one_spelling_per_use() -> None:
    assert labels.SYNTHETIC_LABEL_TEXT == "dữ liệu mô phỏng / synthetic data"
    assert labels.SYNTHETIC_LABEL.upper() == "DỮ LIỆU MÔ PHỎNG / SYNTHETIC DATA"
    assert labels.bilingual(labels.ZONE_KIND_LABELS["pair"]) == "Vùng giáp ranh / Border zone"
    vietnamese, english = labels.STUDY_COUNT_BASIS
    assert f"{vietnamese} / {english}" == labels.STUDY_COUNT_BASIS_TEXT
    assert "ngày xảy ra" in vietnamese and "sự việc" in vietnamese
    assert "as it stood on each incident's date" in english and "events" in english


def test_every_membership_change_has_its_label() -> None:
    from typing import get_args

    from geozone.clusters.model import EventKind
    from geozone.report import CHANGE_LABELS

    # Every event kind of a cluster ("confirmed" too), and the changes the table derives.
    derived = {"joined", "period_start", "period_end"}
    assert set(labels.CHANGE_LABELS) == set(get_args(EventKind)) | derived
    assert labels.CHANGE_LABELS["confirmed"] == ("Xác nhận áp dụng", "Confirmed to apply")
    assert CHANGE_LABELS is labels.CHANGE_LABELS
