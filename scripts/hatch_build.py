"""Hatch build hook: the data files and the map libraries an installed geozone needs.

A wheel must work outside the checkout. The standard wheel (not the editable install that
``bash scripts/setup.sh`` makes of a checkout, which reads these files where they are) gets:

- ``geozone/_data/boundaries/sources.toml`` and ``geozone/_data/clusters/*.toml``: the
  boundary source manifest and the committed clusters, copied from ``data/`` (found at run
  time by :mod:`geozone.resources`);
- ``maps/node_modules/<package>/`` ``package.json``, licence file and ``dist/``: Leaflet and
  its plugins, Swagger UI and ReDoc at the versions pinned in ``maps/package.json``, as
  ``npm ci --prefix maps`` installs them (never committed); for a package named in that
  file's ``geozoneServes``, its named files of its named folder instead of ``dist/``
  (``swagger-ui-dist``'s root, ``redoc``'s ``bundles/``); :mod:`maps.assets` serves and
  embeds them from there.

An sdist gets the same map files, so that a wheel built from it has them too. The build
stops with a message naming the command to run when the map libraries are missing or are
not the pinned versions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: What to run when the map libraries are missing (quoted in the error).
SETUP_HINT = "run `npm ci --prefix maps` (or `bash scripts/setup.sh`) before building"


def data_files(root: Path) -> dict[str, str]:
    """Return the manifest and cluster files → their place in the wheel."""
    files = {root / "data" / "boundaries" / "sources.toml": "boundaries/sources.toml"}
    files |= {path: f"clusters/{path.name}" for path in sorted(root.glob("data/clusters/*.toml"))}
    return {str(path): f"geozone/_data/{target}" for path, target in files.items()}


def map_library_files(root: Path) -> dict[str, str]:
    """Return the pinned npm packages' ``package.json``, licence and ``dist/`` → wheel paths.

    Raises
    ------
    RuntimeError
        When a pinned package is not installed, is another version or has no ``dist/``.
    """
    maps = root / "maps"
    declared = json.loads((maps / "package.json").read_text(encoding="utf-8"))
    pinned = declared["dependencies"]
    serves = declared.get("geozoneServes", {})  # packages whose files are not in dist/
    files: dict[str, str] = {}
    problems: list[str] = []
    for package, version in pinned.items():
        folder = maps / "node_modules" / package
        manifest = folder / "package.json"
        if not manifest.is_file():
            problems.append(f"npm package {package} is not installed")
            continue
        installed = json.loads(manifest.read_text(encoding="utf-8")).get("version")
        if installed != version:
            problems.append(
                f"npm package {package} is {installed}, maps/package.json pins {version}"
            )
        served = serves.get(package, {})
        below = str(served.get("folder", "dist"))
        names = [str(name) for name in served.get("files", [])]
        if not (folder / below).is_dir():
            problems.append(f"npm package {package} has no {below}/ folder")
        notices = ("LICEN", "MIT-LICEN", "NOTICE")  # swagger-ui-dist's Apache NOTICE too
        licences = [p for p in folder.iterdir() if p.name.upper().startswith(notices)]
        for path in [manifest, *licences]:
            files[str(path)] = f"maps/node_modules/{package}/{path.name}"
        if names:  # only the files served (swagger-ui-dist's root holds much else)
            for name in names:
                path = folder / below / name
                if not path.is_file():
                    problems.append(f"npm package {package} has no {below}/{name}")
                target = Path("maps/node_modules", package, below, name).as_posix()
                files[str(path)] = target
        else:
            files[str(folder / below)] = f"maps/node_modules/{package}/{below}"
    if problems:
        raise RuntimeError(
            "the map libraries cannot go into the package: "
            + "; ".join(problems)
            + f"; {SETUP_HINT}"
        )
    return files


class GeozoneBuildHook(BuildHookInterface):
    """Add the data files (wheel) and the map libraries (wheel and sdist) to the build."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Add the files to ``build_data["force_include"]`` (nothing for an editable wheel)."""
        if version == "editable":
            return
        root = Path(self.root)
        include: dict[str, str] = build_data["force_include"]
        include |= map_library_files(root)
        if self.target_name == "wheel":
            include |= data_files(root)
