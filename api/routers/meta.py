"""Service health and version, and the API docs pages (``/docs``, ``/redoc``) served offline.

The docs pages load Swagger UI and ReDoc from this service's own assets
(``/maps/static/vendor/…``, pinned in ``maps/package.json``; :data:`maps.assets.DOCS_ASSETS`),
with no Google fonts and no icon from another host: they render on a closed network. Every
URL they carry is below the root path the service is reached at (a reverse proxy's sub-path).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from api.deps import ContextDep
from api.proxy import root_path
from api.schemas import Health, Version

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, summary="Liveness probe")
def health() -> Health:
    """Return ``{"status": "ok"}`` while the service runs."""
    return Health(status="ok")


@router.get("/version", response_model=Version, summary="Service and data versions")
def get_version(context: ContextDep) -> Version:
    """Return the geozone version, the loaded boundary builds and the clusters."""
    try:
        package = version("geozone")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        package = "unknown"
    return Version(
        geozone=package,
        sets={bset.id: context.build_stamps.get(bset.id, "") for bset in context.sets},
        clusters=sorted(context.clusters),
        current_set=context.current.id,
    )


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """Answer the browser's icon request with no content (the map pages have no icon)."""
    return Response(status_code=204)


#: Headers of the docs pages: this origin only (ReDoc draws with inline styles and starts a
#: worker from a blob; Swagger UI calls the API itself).
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self' data:; worker-src 'self' blob:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


#: ReDoc 2 draws the logo of its footer from cdn.redoc.ly, with no option to leave it out:
#: this script, run before ReDoc's, gives any image of another host an empty picture
#: instead, so that the browser requests nothing off this host.
_REDOC_OFFLINE = """<script>
(function () {
  var EMPTY = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==";
  function local(value) {
    var text = String(value);
    return /^(https?:)?\\/\\//i.test(text) && text.indexOf(location.origin + "/") !== 0
      ? EMPTY : value;
  }
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    var img = this.tagName === "IMG" && String(name).toLowerCase() === "src";
    return setAttribute.call(this, name, img ? local(value) : value);
  };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    get: src.get,
    set: function (value) { src.set.call(this, local(value)); },
    configurable: true,
  });
})();
</script>
"""


def _docs_urls(request: Request) -> dict[str, str]:
    from maps.assets import DEFAULT_ASSET_BASE, DOCS_ASSETS

    root = root_path(request)
    urls = {name: f"{root}{DEFAULT_ASSET_BASE}/{path}" for name, path in DOCS_ASSETS.items()}
    return {**urls, "openapi": f"{root}{request.app.openapi_url or '/openapi.json'}"}


@router.get("/docs", include_in_schema=False)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, its script and style served by this service."""
    urls = _docs_urls(request)
    page = get_swagger_ui_html(
        openapi_url=urls["openapi"],
        title=f"{request.app.title} – Swagger UI",
        swagger_js_url=urls["swagger_js"],
        swagger_css_url=urls["swagger_css"],
        swagger_favicon_url=urls["swagger_favicon"],
        # No badge fetched from validator.swagger.io (off-host) for a non-local host.
        swagger_ui_parameters={"validatorUrl": None},
    )
    page.headers.update(DOCS_HEADERS)
    return page


@router.get("/redoc", include_in_schema=False)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc over ``/openapi.json``, its bundle served by this service, no Google fonts."""
    urls = _docs_urls(request)
    page = get_redoc_html(
        openapi_url=urls["openapi"],
        title=f"{request.app.title} – ReDoc",
        redoc_js_url=urls["redoc_js"],
        redoc_favicon_url=urls["swagger_favicon"],
        with_google_fonts=False,
    )
    html = (
        bytes(page.body).decode("utf-8").replace("<script src=", _REDOC_OFFLINE + "<script src=", 1)
    )
    return HTMLResponse(html, headers=DOCS_HEADERS)
