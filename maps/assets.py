"""Offline assets: Leaflet, its plugins and the API docs' libraries from npm, and geozone's files.

Map pages and the API docs never load anything from a CDN. Leaflet, Leaflet.markercluster,
Leaflet.heat, Leaflet.glify (WebGL points), Leaflet.draw, protomaps-leaflet (vector
basemaps), and Swagger UI and ReDoc (the ``/docs`` and ``/redoc`` pages) are pinned in
``maps/package.json`` / ``maps/package-lock.json`` and installed at set-up with ``npm ci
--prefix maps`` (``bash scripts/setup.sh`` does it); ``maps/node_modules`` is never
committed. geozone's hand-written files live in ``maps/static``.

URL layout below an asset base (default :data:`DEFAULT_ASSET_BASE`, ``/maps/static``):

- ``<base>/vendor/<package>/<file>``: every file of ``maps/node_modules/<package>/dist/``
  (e.g. ``/maps/static/vendor/leaflet/leaflet.js``, ``.../vendor/leaflet/images/layers.png``,
  so the relative image URLs inside the plugins' CSS resolve); a package whose files are
  elsewhere names its folder, and the only files served from it, in ``maps/package.json``'s
  ``geozoneServes`` (``swagger-ui-dist``: its root, ``swagger-ui-bundle.js``,
  ``swagger-ui.css``; ``redoc``: ``bundles/redoc.standalone.js``), read by
  :func:`vendor_folders` here and by the wheel's build hook;
- ``<base>/<file>``: every file of ``maps/static`` (``geozone.js``, ``geozone.css``,
  ``planner.js``, ``incident_loader.js``).

:func:`asset_routes` lists them for a web server. :func:`use_local_assets` points a
``folium.Map`` at them: folium elements declare their files in ``default_js`` /
``default_css`` lists of (name, CDN URL); the lists are replaced *on the instances* (never on
the classes) with local URLs, or emptied and the contents embedded into the page
(``inline=True``, for a standalone HTML file that opens from disk without a network; image
URLs in the CSS become ``data:`` URIs). folium's defaults that geozone's maps do not use
(jQuery, Bootstrap, Font Awesome, glyphicons, awesome-markers) are dropped; an element asking
for any other file raises :class:`~maps.errors.MapAssetError` rather than fetching it.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import folium
from branca.element import CssLink, Element, Figure, JavascriptLink
from folium.elements import JSCSSMixin

from maps.errors import MapAssetError, MapAssetsMissingError

#: The ``maps`` package folder (holds package.json, node_modules/ and static/).
MAPS_DIR = Path(__file__).resolve().parent
#: Where ``npm ci --prefix maps`` installs the packages.
NODE_MODULES = MAPS_DIR / "node_modules"
#: geozone's own hand-written map files.
STATIC_DIR = MAPS_DIR / "static"
#: URL path the API serves the assets under.
DEFAULT_ASSET_BASE = "/maps/static"
#: How to install the assets (quoted in errors).
SETUP_HINT = "run `npm ci --prefix maps` (or `bash scripts/setup.sh`) in the geozone checkout"
#: npm packages whose files are served under ``<base>/vendor/<package>/``.
VENDOR_PACKAGES = (
    "leaflet",
    "leaflet.markercluster",
    "leaflet.heat",
    "leaflet.glify",
    "leaflet-draw",
    "protomaps-leaflet",
    "swagger-ui-dist",
    "redoc",
)
#: The API docs' files (``/docs``: Swagger UI; ``/redoc``: ReDoc), below the asset base.
DOCS_ASSETS = {
    "swagger_js": "vendor/swagger-ui-dist/swagger-ui-bundle.js",
    "swagger_css": "vendor/swagger-ui-dist/swagger-ui.css",
    "swagger_favicon": "vendor/swagger-ui-dist/favicon-32x32.png",
    "redoc_js": "vendor/redoc/redoc.standalone.js",
}

AssetKind = Literal["js", "css"]


@dataclass(frozen=True)
class Asset:
    """One script or stylesheet a map page loads.

    Attributes
    ----------
    name
        The key folium uses in ``default_js`` / ``default_css`` (geozone's own files use
        ``geozone_js``, ``geozone_css``, ``planner_js``).
    kind
        ``"js"`` or ``"css"``.
    path
        URL path below the asset base, e.g. ``vendor/leaflet/leaflet.js``.
    """

    name: str
    kind: AssetKind
    path: str

    @property
    def file(self) -> Path:
        """The file on disk (it may be missing until ``npm ci`` has run)."""
        return asset_file(self.path)


#: Every asset a geozone map may load, in load order (Leaflet first, geozone's files last).
ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in (
        Asset("leaflet", "js", "vendor/leaflet/leaflet.js"),
        Asset("leaflet_css", "css", "vendor/leaflet/leaflet.css"),
        Asset("markerclusterjs", "js", "vendor/leaflet.markercluster/leaflet.markercluster.js"),
        Asset("markerclustercss", "css", "vendor/leaflet.markercluster/MarkerCluster.css"),
        Asset(
            "markerclusterdefaultcss",
            "css",
            "vendor/leaflet.markercluster/MarkerCluster.Default.css",
        ),
        Asset("leaflet-heat.js", "js", "vendor/leaflet.heat/leaflet-heat.js"),
        Asset("glify_js", "js", "vendor/leaflet.glify/glify-browser.js"),
        Asset("leaflet_draw_js", "js", "vendor/leaflet-draw/leaflet.draw.js"),
        Asset("leaflet_draw_css", "css", "vendor/leaflet-draw/leaflet.draw.css"),
        Asset("protomaps_leaflet_js", "js", "vendor/protomaps-leaflet/protomaps-leaflet.js"),
        Asset("geozone_css", "css", "geozone.css"),
        Asset("geozone_js", "js", "geozone.js"),
        Asset("planner_js", "js", "planner.js"),
        Asset("incidents_js", "js", "incident_loader.js"),
    )
}

#: folium defaults geozone's maps do not need (they serve awesome-markers icons and
#: Bootstrap-styled popups, which the builders avoid): dropped instead of fetched.
UNUSED_FOLIUM_ASSETS = frozenset(
    {
        "jquery",
        "bootstrap",
        "awesome_markers",
        "bootstrap_css",
        "glyphicons_css",
        "awesome_markers_font_css",
        "awesome_markers_css",
        "awesome_rotate_css",
    }
)

# The asset base each map was built with (to_html re-localises with the same base).
_BASES: weakref.WeakKeyDictionary[folium.Map, str] = weakref.WeakKeyDictionary()


def asset_file(path: str) -> Path:
    """Return the file behind the URL path ``path`` (relative to the asset base).

    Raises
    ------
    MapAssetError
        When ``path`` leaves the asset folders (``..``) or names no vendor package.
    """
    parts = Path(path).parts
    if not parts or ".." in parts or Path(path).is_absolute():
        raise MapAssetError(f"asset path {path!r} is not a relative path inside the assets")
    if parts[0] == "vendor":
        if len(parts) < 3 or parts[1] not in VENDOR_PACKAGES:
            raise MapAssetError(
                f"asset path {path!r} names no vendor package ({', '.join(VENDOR_PACKAGES)})"
            )
        folder, _files = vendor_folders()[parts[1]]
        return NODE_MODULES.joinpath(parts[1], folder, *parts[2:])
    return STATIC_DIR.joinpath(*parts)


@lru_cache(maxsize=1)
def vendor_folders() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Return each vendor package's served folder and its served files (empty: all).

    The folder is ``dist`` unless ``maps/package.json``'s ``geozoneServes`` names another
    (``.`` for the package root), with the list of the only files served from it.
    """
    data = json.loads((MAPS_DIR / "package.json").read_text(encoding="utf-8"))
    serves: dict[str, Any] = data.get("geozoneServes", {})
    return {
        package: (
            str(serves.get(package, {}).get("folder", "dist")),
            tuple(str(name) for name in serves.get(package, {}).get("files", ())),
        )
        for package in VENDOR_PACKAGES
    }


def _served_files(package: str) -> Iterator[tuple[str, Path]]:
    """Yield (path below the package's URL, file) for each file served of a vendor package."""
    folder_name, names = vendor_folders()[package]
    folder = NODE_MODULES / package / folder_name
    files = [folder / name for name in names] if names else sorted(folder.rglob("*"))
    for file in files:
        if file.is_file():
            yield file.relative_to(folder).as_posix(), file


def pinned_versions() -> dict[str, str]:
    """Return the npm packages and exact versions pinned in ``maps/package.json``."""
    data = json.loads((MAPS_DIR / "package.json").read_text(encoding="utf-8"))
    return {str(name): str(version) for name, version in data["dependencies"].items()}


def check_assets() -> None:
    """Check that the pinned packages are installed with every file a map loads.

    Raises
    ------
    MapAssetsMissingError
        Naming the missing package, file or version mismatch, and how to install.
    """
    problems: list[str] = []
    if not NODE_MODULES.is_dir():
        raise MapAssetsMissingError(
            f"the map libraries (Leaflet and plugins) are not installed: {NODE_MODULES} does "
            f"not exist; {SETUP_HINT}"
        )
    for package, version in pinned_versions().items():
        manifest = NODE_MODULES / package / "package.json"
        if not manifest.is_file():
            problems.append(f"npm package {package} is not installed")
            continue
        installed = json.loads(manifest.read_text(encoding="utf-8")).get("version")
        if installed != version:
            problems.append(
                f"npm package {package} is {installed}, maps/package.json pins {version}"
            )
    problems += [
        f"{asset.file} is missing" for asset in ASSETS.values() if not asset.file.is_file()
    ]
    problems += [
        f"{asset_file(path)} is missing"
        for path in DOCS_ASSETS.values()
        if not asset_file(path).is_file()
    ]
    if problems:
        raise MapAssetsMissingError(
            "map assets are not installed correctly: " + "; ".join(problems) + f"; {SETUP_HINT}"
        )


def asset_routes(base: str = DEFAULT_ASSET_BASE) -> dict[str, Path]:
    """Map every URL path of the map assets to the file to serve.

    Parameters
    ----------
    base
        URL path prefix, e.g. ``/maps/static`` (no trailing slash needed).

    Returns
    -------
    dict
        URL path (``<base>/vendor/leaflet/leaflet.js``, ``<base>/geozone.js``...) → file,
        sorted by URL: every file of the vendor packages' ``dist/`` folders and of
        ``maps/static``.

    Raises
    ------
    MapAssetsMissingError
        When the npm packages are not installed (see :func:`check_assets`).
    """
    check_assets()
    prefix = base.rstrip("/")
    routes: dict[str, Path] = {}
    for package in VENDOR_PACKAGES:
        for below, file in _served_files(package):
            routes[f"{prefix}/vendor/{package}/{below}"] = file
    for file in sorted(STATIC_DIR.rglob("*")):
        if file.is_file():
            routes[f"{prefix}/{file.relative_to(STATIC_DIR).as_posix()}"] = file
    return dict(sorted(routes.items()))


def asset_url(name: str, base: str = DEFAULT_ASSET_BASE) -> str:
    """Return the URL of asset ``name`` (a key of :data:`ASSETS`) below ``base``."""
    return f"{base.rstrip('/')}/{ASSETS[name].path}"


# -- localising a folium map -------------------------------------------------------------------


class RawElement(Element):
    """A branca element that renders a fixed string verbatim (no Jinja parsing)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "RawElement"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """Return the text."""
        return self.text


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _declared(element: JSCSSMixin, kind: AssetKind) -> list[tuple[str, str]]:
    """Return the (name, url) pairs the element's class declares (instances may differ)."""
    return list(getattr(type(element), "default_js" if kind == "js" else "default_css"))


def use_local_assets(m: folium.Map, *, base: str | None = None, inline: bool = False) -> folium.Map:
    """Make the map load Leaflet and its plugins from geozone's assets, never from a CDN.

    May be called again (e.g. to switch between served and inline); the map's elements must
    all be added before the page is rendered.

    Parameters
    ----------
    m
        The map (its figure is changed in place).
    base
        URL path or URL the assets are served under (default: the base the map was last
        localised with, else :data:`DEFAULT_ASSET_BASE`).
    inline
        Embed the files' contents into the page instead of linking them (a standalone file
        that works offline from disk).

    Returns
    -------
    folium.Map
        ``m``.

    Raises
    ------
    MapAssetError
        When an element asks for a file geozone does not ship (named, with its CDN URL).
    MapAssetsMissingError
        In inline mode, when the npm packages are not installed.
    """
    base = base if base is not None else _BASES.get(m, DEFAULT_ASSET_BASE)
    _BASES[m] = base
    if inline:
        check_assets()
    figure = m.get_root()
    if not isinstance(figure, Figure):
        raise MapAssetError("the map is not in a folium Figure; build it with folium.Map")
    needed: set[str] = set()
    for element in _walk(figure):
        if not isinstance(element, JSCSSMixin):
            continue
        local: dict[AssetKind, list[tuple[str, str]]] = {"js": [], "css": []}
        for kind in ("js", "css"):
            for name, url in _declared(element, kind):
                if name in UNUSED_FOLIUM_ASSETS:
                    continue
                asset = ASSETS.get(name)
                if asset is None or asset.kind != kind:
                    raise MapAssetError(
                        f"{type(element).__name__} needs {kind} asset {name!r} ({url}), which "
                        "geozone does not ship offline; add its npm package to "
                        "maps/package.json and map it in maps/assets.py ASSETS"
                    )
                needed.add(name)
                local[kind].append((name, asset_url(name, base)))
        element.default_js = [] if inline else local["js"]
        element.default_css = [] if inline else local["css"]
    header = figure.header
    for name in ASSETS:
        header._children.pop(name, None)
    for name, asset in ASSETS.items():
        if name in needed:
            header.add_child(_tag(asset, base, inline), name=name)
    return m


def recorded_base(m: folium.Map) -> str:
    """Return the asset base ``m`` was localised with (default :data:`DEFAULT_ASSET_BASE`)."""
    return _BASES.get(m, DEFAULT_ASSET_BASE)


def _tag(asset: Asset, base: str, inline: bool) -> Element:
    if not inline:
        url = asset_url(asset.name, base)
        return JavascriptLink(url) if asset.kind == "js" else CssLink(url)
    file = asset.file
    text = _inline_text(file, file.stat().st_mtime_ns, asset.kind)
    if asset.kind == "js":
        return RawElement(f"<script>/* {asset.path} */\n{text}\n</script>")
    return RawElement(f"<style>/* {asset.path} */\n{text}\n</style>")


_SOURCE_MAP = re.compile(
    r"^\s*(?://[#@]\s*sourceMappingURL=.*|/\*[#@]\s*sourceMappingURL=.*\*/)$", re.M
)
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
_SCRIPT_END = re.compile(r"</(script)", re.I)
_STYLE_END = re.compile(r"</(style)", re.I)


@lru_cache(maxsize=64)
def _inline_text(file: Path, mtime_ns: int, kind: AssetKind) -> str:
    """Return the file's text ready to embed (cached per modification time)."""
    text = _SOURCE_MAP.sub("", file.read_text(encoding="utf-8"))
    if kind == "js":
        return _SCRIPT_END.sub(r"<\\/\1", text)
    return _STYLE_END.sub(r"<\\/\1", _CSS_URL.sub(lambda m: _data_uri(m, file.parent), text))


def _data_uri(match: re.Match[str], folder: Path) -> str:
    target = match.group(2).strip()
    if target.startswith(("data:", "#")) or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
        return match.group(0)
    file = (folder / target.split("?")[0].split("#")[0]).resolve()
    if not file.is_file():
        raise MapAssetsMissingError(f"{file} (referenced by a stylesheet) is missing; {SETUP_HINT}")
    mime = "image/svg+xml" if file.suffix == ".svg" else mimetypes.guess_type(file.name)[0]
    encoded = base64.b64encode(file.read_bytes()).decode("ascii")
    return f'url("data:{mime or "application/octet-stream"};base64,{encoded}")'
