"""Where geozone finds its data files and keeps its cache, from a checkout or a wheel.

Run from a source checkout (the folder holding ``pyproject.toml`` and ``data/``, as after
``bash scripts/setup.sh``), geozone reads the manifest and the cluster files from the
checkout's ``data/`` and caches under ``.cache/geozone`` in it. Installed from a wheel, it
reads the copies packaged as ``geozone/_data/`` (put there by ``scripts/hatch_build.py``) and
caches in the user's cache folder: ``$XDG_CACHE_HOME/geozone``, else ``~/.cache/geozone``.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

#: The repository checkout (the folder holding pyproject.toml) when geozone runs from source.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def source_checkout() -> Path | None:
    """Return the checkout geozone runs from, or None when it is installed from a wheel."""
    manifest = PROJECT_ROOT / "data" / "boundaries" / "sources.toml"
    if (PROJECT_ROOT / "pyproject.toml").is_file() and manifest.is_file():
        return PROJECT_ROOT
    return None


def data_path(*parts: str) -> Path:
    """Return a committed data file or folder, e.g. ``data_path("clusters")``.

    Parameters
    ----------
    *parts
        The path below ``data/`` in the checkout (``boundaries/sources.toml``, ``clusters``).

    Returns
    -------
    Path
        Below the checkout's ``data/`` when geozone runs from a checkout, else below the
        package's ``_data/`` (the copies a wheel carries); it may not exist.
    """
    checkout = source_checkout()
    if checkout is None:
        packaged = files("geozone").joinpath("_data")
        if isinstance(packaged, Path):
            return packaged.joinpath(*parts)
    return PROJECT_ROOT.joinpath("data", *parts)


def default_cache_dir() -> Path:
    """Return the default cache folder: the checkout's ``.cache/geozone``, else the user's."""
    checkout = source_checkout()
    if checkout is not None:
        return checkout / ".cache" / "geozone"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "geozone"
