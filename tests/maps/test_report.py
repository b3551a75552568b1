"""The cluster review report page: escaped text, synthetic banner, attribution, print layout."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.incidents.pipeline import assign_stale
from geozone.report import SYNTHETIC_LABEL, ClusterReport, cluster_report
from geozone.store import open_store
from maps.report import THOUSANDS, report_html, table_html
from tests.fixtures.browser import CHROMIUM, FIND_MAP, panels_over_cluster
from tests.fixtures.clusters import grid_cluster
from tests.fixtures.grid import GRID_INFO, grid_units, grid_vertex_lonlat
from tests.fixtures.html import external_references
from tests.fixtures.incidents import grid_incidents
from tests.fixtures.pages import needs_assets

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
STYLE_BREAK = '</style><script>alert(3)</script>"'
ATTRIBUTION_VI = f"Ranh giới {SCRIPT} & đồng nghiệp"
ATTRIBUTION_EN = f'Boundaries "{IMG}"'
START, END = date(2021, 1, 1), date(2021, 12, 31)


def evil_context() -> Context:
    """The grid with markup in a unit name, the cluster's names, a hotspot and attribution."""
    units = grid_units()
    units.loc[units["code"] == "00001", "full_name"] = f"Phường {IMG}"
    info = dataclasses.replace(GRID_INFO, attribution=ATTRIBUTION_VI, attribution_en=ATTRIBUTION_EN)
    bset = BoundarySet.from_units(info, units)
    cluster = grid_cluster(
        zone_width_m=100,
        name=f"Cụm {SCRIPT}",
        name_en=f"Test {STYLE_BREAK}",
        hotspots=[{"name": f"Chợ {SCRIPT}", "point": grid_vertex_lonlat(1, 1), "radius_m": 150}],
    )
    territory = ClusterTerritory(cluster, bset)
    return Context([bset], {cluster.id: cluster}, [territory], {"grid": "test"})


def make_report(
    tmp_path: Path, *, synthetic: bool = True, start: date = START, end: date = END
) -> tuple[ClusterReport, Context]:
    context = evil_context()
    incidents = grid_incidents(160, 3, START, END).assign(synthetic=synthetic)
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.add_incidents(incidents)
        assign_stale(store, context)
        return cluster_report(store, context, "grid-centre", start, end), context


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> tuple[ClusterReport, Context, str]:
    report, context = make_report(tmp_path_factory.mktemp("report"))
    return report, context, report_html(report, context)


def test_every_text_is_escaped(evil: tuple[ClusterReport, Context, str]) -> None:
    report, _, page = evil
    assert "<script>alert" not in page and "<img src=x" not in page
    assert page.count("</style>") == 1  # the cluster's name cannot close the page's style
    assert html.escape(f"Cụm {SCRIPT}") in page
    assert html.escape(f"Phường {IMG}") in page  # unit names, in tables and on the SVG map
    assert html.escape(f"Chợ {SCRIPT}") in page  # the named hotspot's figures
    assert html.escape(ATTRIBUTION_VI) in page and html.escape(ATTRIBUTION_EN) in page
    assert "named_hotspots" in report.tables


def test_map_legend_names_are_escaped_once(evil: tuple[ClusterReport, Context, str]) -> None:
    _, _, page = evil
    legend = re.search(r"<div class='legend'>(.*?)</div>", page, re.DOTALL)
    assert legend is not None and html.escape(f"Phường {IMG}") in legend.group(1)
    assert "&amp;" not in legend.group(1)  # not escaped twice


def test_synthetic_banner_and_attribution(evil: tuple[ClusterReport, Context, str]) -> None:
    report, _, page = evil
    assert report.synthetic
    banner = re.search(r"<div class='synthetic-banner' role='alert'>(.*?)</div>", page)
    assert banner is not None and SYNTHETIC_LABEL.upper() in banner.group(1)
    assert f"{report.figures['cases']:,} of {report.figures['cases']:,} incidents" in page
    assert page.index("synthetic-banner") < page.index("id='summary'")  # before any figure
    footer = page[page.index("<footer class='attribution'>") :]
    assert html.escape(ATTRIBUTION_VI) in footer and html.escape(ATTRIBUTION_EN) in footer
    assert SYNTHETIC_LABEL.upper() in footer
    # Every printed page: the label in the bottom margin box.
    assert re.search(r"@bottom-left \{ content: \"DỮ LIỆU MÔ PHỎNG / SYNTHETIC DATA · ", page)


def test_real_data_carry_no_banner(tmp_path: Path) -> None:
    report, context = make_report(tmp_path, synthetic=False)
    page = report_html(report, context, interactive_map=False)
    assert not report.synthetic
    assert "class='synthetic-banner'" not in page and SYNTHETIC_LABEL.upper() not in page


def test_print_css(evil: tuple[ClusterReport, Context, str]) -> None:
    _, _, page = evil
    css = page[page.index("<style>") : page.index("</style>")]
    for rule in (
        "@page { size: A4;",
        "@media print",
        "section.page { break-before: page;",
        "tr, .card, figure, .legend { break-inside: avoid;",
        "thead { display: table-header-group; }",
        ".screen-only { display: none !important; }",
        "print-color-adjust: exact",
        'counter(page) " / " counter(pages)',
    ):
        assert rule in css, rule
    # The interactive map is screen-only; the static SVG map is always there.
    assert "<div class='interactive screen-only'>" in page or "No interactive map" in page
    svg = re.search(r"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 1000 (\d+)'", page)
    assert svg is not None
    sections = re.findall(r"<section class='page' id='([a-z]+)'>", page)
    assert sections == ["map", "categories", "members", "months", "hotspots", "scope"]


def test_tables_show_the_report_figures(evil: tuple[ClusterReport, Context, str]) -> None:
    report, _, page = evil
    by_category = report.tables["by_category"]
    rendered = table_html("by_category", by_category)
    total = f"{int(by_category['cases'].sum()):,}".replace(",", THOUSANDS)
    assert "<tfoot><tr><td>Tổng cộng" in rendered and f"<td class='num'>{total}</td>" in rendered
    solved = f"{int(by_category['solved'].sum())}/{int(by_category['cases'].sum())}"
    assert f"<td class='num'>{solved}</td>" in rendered
    assert rendered in page
    assert report.figures["headline_vi"] in html.unescape(page)
    assert report.figures["in_zone_criminal_solved_ratio"] in page
    # The jointly handled card counts every area, and says so (the card beside it is the
    # border area's).
    joint = f"{report.figures['jointly_handled']:,}".replace(",", THOUSANDS)
    assert (
        f"<div class='value'>{joint}</div><div class='what'>vụ phối hợp xử lý (mọi địa bàn)"
        "<span class='en'>handled jointly (all areas)</span>"
    ) in page


def test_ratios_group_thousands_as_the_counts_do() -> None:
    import pandas as pd

    rows = pd.DataFrame(
        {
            "label_vi": ["Trộm cắp tài sản", "Ma túy"],
            "kind": ["criminal", "criminal"],
            "cases": [1_204, 300],
            "subjects": [1_300, 310],
            "solved": [1_000, 222],
            "solved_ratio": ["1000/1204", "222/300"],
            "in_zone": [10, 2],
            "in_zone_solved": [5, 1],
            "in_zone_solved_ratio": ["5/10", "1/2"],
            "jointly_handled": [1, 0],
            "review": [0, 0],
        }
    )
    rendered = table_html("by_category", rows)
    assert "<td class='num'>1.000/1.204</td>" in rendered  # a row: as its counts, 1.204
    foot = rendered[rendered.index("<tfoot>") :]
    assert "<td class='num'>1.504</td>" in foot
    assert "<td class='num'>1.222/1.504</td>" in foot  # not 1222/1504 beside 1.504
    assert "1222" not in rendered and "1504" not in rendered


def test_membership_changes_are_labelled_in_both_languages() -> None:
    import pandas as pd

    from geozone.report import CHANGE_LABELS

    rows = pd.DataFrame(
        {
            "date": ["2025-07-01"] * len(CHANGE_LABELS),
            "change": list(CHANGE_LABELS),
            "member_name": [None] * len(CHANGE_LABELS),
            "member_code": [None] * len(CHANGE_LABELS),
            "text_vi": ["…"] * len(CHANGE_LABELS),
            "text_en": ["…"] * len(CHANGE_LABELS),
        }
    )
    rendered = table_html("membership", rows)
    cells = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)<span class='en'>([^<]*)</span>", rendered)
    assert cells == [(html.escape(vi), html.escape(en)) for vi, en in CHANGE_LABELS.values()]
    assert "<td>Xác nhận áp dụng<span class='en'>Confirmed to apply</span></td>" in rendered


def test_empty_period_says_no_incidents(tmp_path: Path) -> None:
    report, context = make_report(tmp_path, start=date(2023, 1, 1), end=date(2023, 3, 31))
    page = report_html(report, context, interactive_map=False)
    assert "Không có vụ việc nào của cụm trong kỳ báo cáo." in page
    assert "No incidents of the cluster in the period." in page
    assert "<iframe" not in page


@needs_assets
def test_interactive_map_is_inlined_in_srcdoc(evil: tuple[ClusterReport, Context, str]) -> None:
    _, _, page = evil
    frame = re.search(r'<iframe [^>]*sandbox=\'allow-scripts\'[^>]*srcdoc="([^"]*)"', page)
    assert frame is not None
    inner = html.unescape(frame.group(1))
    assert inner.startswith("<!DOCTYPE html>") and "L.markerClusterGroup" in inner
    assert "<script>alert" not in inner
    assert external_references(inner) == []  # nothing from the network


# -- in a browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no Chromium: apt-get install chromium, or set GEOZONE_CHROMIUM")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@needs_assets
def test_page_prints_to_a4_without_the_interactive_map(
    browser: Any, evil: tuple[ClusterReport, Context, str], tmp_path: Path
) -> None:
    _, _, page_html = evil
    path = tmp_path / "report.html"
    path.write_text(page_html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    page.locator(".interactive iframe").scroll_into_view_if_needed()
    inner = page.frame_locator(".interactive iframe")
    inner.locator(".leaflet-container").wait_for(timeout=15_000)  # the map runs in the frame
    assert errors == []
    assert all(url.startswith(("file:", "about:", "data:")) for url in requests), requests
    page.emulate_media(media="print")
    assert not page.locator(".interactive").is_visible()
    assert page.locator("figure svg").first.is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= 6  # cover, map, then one section per page at least
    page.close()


@needs_assets
def test_the_small_map_keeps_its_layer_list_folded_off_the_cluster(
    browser: Any, evil: tuple[ClusterReport, Context, str], tmp_path: Path
) -> None:
    _, _, page_html = evil
    path = tmp_path / "report.html"
    path.write_text(page_html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(path.as_uri())
    page.locator(".interactive iframe").scroll_into_view_if_needed()
    inner = page.frame_locator(".interactive iframe")
    inner.locator(".leaflet-control-layers").wait_for(timeout=15_000)
    frame = next(f for f in page.frames if f != page.main_frame)
    frame.wait_for_function(f"() => window[{FIND_MAP}] && window[{FIND_MAP}].gzBounds")
    layers = inner.locator(".leaflet-control-layers")
    assert "leaflet-control-layers-expanded" not in (layers.get_attribute("class") or "")
    assert frame.evaluate(panels_over_cluster()) == []  # nothing over the cluster
    # the list opens on demand (hover or click on its button), with every layer in it
    layers.hover()
    assert "leaflet-control-layers-expanded" in (layers.get_attribute("class") or "")
    assert inner.locator(".leaflet-control-layers-overlays label").count() >= 3
    page.locator(".interactive iframe").screenshot(path=str(tmp_path / "report-map.png"))
    page.close()
