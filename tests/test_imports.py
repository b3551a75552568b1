from __future__ import annotations

import subprocess
import sys


def test_core_imports_no_web_or_map_library() -> None:
    code = (
        "import sys, geozone, geozone.boundaries.sets, geozone.boundaries.qa, "
        "geozone.boundaries.build, geozone.cli;"
        "heavy = {'fastapi', 'starlette', 'folium', 'branca', 'uvicorn'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_service_and_its_settings_load_folium_only_for_a_map() -> None:
    code = (
        "import sys, api.app, api.settings, maps.settings;"
        "before = 'folium' in sys.modules;"
        "from maps import cluster_map;"
        "print(before, 'folium' in sys.modules, callable(cluster_map))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]
