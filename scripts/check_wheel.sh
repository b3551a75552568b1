#!/usr/bin/env bash
# Check that geozone works installed from its wheel, outside the checkout:
#   1. build the wheel (scripts/hatch_build.py packs the manifest, the clusters and the map
#      libraries, so run it after `bash scripts/setup.sh`, which installs those with npm);
#   2. install it alone (the core) into a fresh virtual environment in a temporary folder,
#      with the versions of requirements.lock (their wheels from uv's cache, which setup
#      filled), and from that folder build the boundary data into a fresh cache, run
#      `geozone locate`, and check that `geozone serve` names the extra it needs;
#   3. add the [api] extra and check that `geozone serve` answers GET /health and serves a
#      cluster map whose Leaflet comes from its own assets, and /docs and /redoc whose Swagger
#      UI and ReDoc do.
# The boundary archives: GEOZONE_DATA_DIR, default ../shared/data/boundaries beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
uv=(python3 -m uv)
data_dir=${GEOZONE_DATA_DIR:-$(cd .. && pwd)/shared/data/boundaries}
work=$(mktemp -d -t geozone-wheel-XXXXXX)
server=""
cleanup() {
  if [[ -n "$server" ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
step() { echo "+ $*" >&2; }

step "build the wheel"
"${uv[@]}" build --quiet --wheel --out-dir "$work/dist" "$checkout"
wheel=$(echo "$work"/dist/geozone-*-py3-none-any.whl)
"${uv[@]}" venv --quiet --python python3 "$work/venv"
python=$work/venv/bin/python geozone=$work/venv/bin/geozone
# The locked versions, whose wheels setup put in uv's cache (uv only revalidates index pages).
install() { "${uv[@]}" pip install --quiet --python "$python" -c "$checkout/requirements.lock" "$@"; }

cd "$work" # outside the checkout from here on
export GEOZONE_DATA_DIR=$data_dir GEOZONE_CACHE_DIR=$work/cache GEOZONE_STORE_URL=""
step "install the core alone: $(basename "$wheel")"
install "$wheel"
"$python" - "$work" <<'PY'
import importlib.util, sys
from pathlib import Path

import geozone
from geozone.settings import Settings

work = Path(sys.argv[1])
where = Path(geozone.__file__).parent
assert where.is_relative_to(work / "venv"), f"geozone imported from {where}, not the venv"
libraries = ("fastapi", "uvicorn", "starlette", "folium", "branca")
installed = [name for name in libraries if importlib.util.find_spec(name)]
assert not installed, f"the core alone installed {installed}"
settings = Settings()
assert settings.manifest_path == where / "_data" / "boundaries" / "sources.toml"
assert settings.manifest_path.is_file() and len(list((where / "_data/clusters").glob("*.toml"))) == 5
print(f"geozone {geozone.__version__} from {where}; manifest and clusters packaged")
PY
env -u GEOZONE_CACHE_DIR XDG_CACHE_HOME="$work/xdg" "$python" -c \
  "from geozone.settings import Settings; print('default cache:', Settings().cache_dir)" |
  grep -qx "default cache: $work/xdg/geozone"
step "geozone data build && geozone locate 105.8342 21.0278 --date 2024-05-01"
"$geozone" data build >/dev/null
located=$("$geozone" locate 105.8342 21.0278 --date 2024-05-01)
echo "$located"
[[ "$located" == *"Quận Đống Đa, Thành phố Hà Nội"* ]]
step "geozone serve without the [api] extra"
if refused=$("$geozone" serve 2>&1); then
  echo "geozone serve ran without the [api] extra" >&2
  exit 1
fi
echo "$refused"
[[ "$refused" == *"pip install 'geozone[api]'"* ]]

step "install geozone[api]"
install "${wheel}[api]"
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "geozone serve --port $port --demo-incidents 300"
"$geozone" serve --port "$port" --demo-incidents 300 >"$work/serve.log" 2>&1 &
server=$!
"$python" - "$port" "$work/serve.log" <<'PY'
import json, sys, time, urllib.request
from pathlib import Path

base = f"http://127.0.0.1:{sys.argv[1]}"
log = Path(sys.argv[2])
deadline = time.monotonic() + 240
while True:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=5) as answer:
            health = json.load(answer)
            break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"geozone serve did not answer in time:\n{log.read_text()[-3000:]}")
        time.sleep(1)
assert health == {"status": "ok"}, health
print("GET /health:", health)
with urllib.request.urlopen(f"{base}/version", timeout=30) as answer:
    print("GET /version: geozone", json.load(answer)["geozone"])
with urllib.request.urlopen(f"{base}/maps/clusters/hoa-do-phuc-vi-vn2025", timeout=120) as answer:
    page = answer.read().decode()
leaflet = "/maps/static/vendor/leaflet/leaflet.js"
assert f'src="{leaflet}"' in page, "the map page does not load its own Leaflet"
assert "unpkg.com" not in page and "cdn.jsdelivr.net" not in page, "the map page uses a CDN"
with urllib.request.urlopen(f"{base}{leaflet}", timeout=30) as answer:
    script = answer.read()
assert b"Leaflet" in script[:400], script[:400]
print(f"GET /maps/clusters/hoa-do-phuc-vi-vn2025: {len(page):,} characters; {leaflet}: {len(script):,} bytes")
for docs, bundle in (("/docs", "swagger-ui-dist/swagger-ui-bundle.js"), ("/redoc", "redoc/redoc.standalone.js")):
    with urllib.request.urlopen(f"{base}{docs}", timeout=30) as answer:
        html = answer.read().decode()
    url = f"/maps/static/vendor/{bundle}"
    assert f'src="{url}"' in html and "cdn.jsdelivr.net" not in html, f"{docs} loads no local {bundle}"
    with urllib.request.urlopen(f"{base}{url}", timeout=30) as answer:
        print(f"GET {docs}: its {url}, {len(answer.read()):,} bytes, from the wheel")
PY
echo "wheel check passed: $(basename "$wheel")"
