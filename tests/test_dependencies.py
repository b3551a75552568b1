"""Every library the code imports is declared in pyproject.toml, in the right place.

The imports of ``geozone/``, ``maps/`` and ``api/`` are read with :mod:`ast` (every
``import`` and ``from … import`` with an absolute module, in functions too), their top-level
modules mapped to the distributions installed in this environment
(:func:`importlib.metadata.packages_distributions`), and compared with the project's
dependencies:

- ``geozone/`` (the core) imports at module level only core dependencies; a library of an
  extra (``distributed`` for ``--engine dask``) only inside a function, so that the core
  imports without the extra;
- ``maps/`` imports the core's and the ``maps`` extra's libraries;
- ``api/`` imports the core's and the ``api`` extra's (which includes ``geozone[maps]``).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"geozone", "maps", "api", "tests"}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([^\]]*)\])?")


def normalise(name: str) -> str:
    """Return a distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> dict[str, set[str]]:
    """Return the distributions of the core (``""``) and of each extra, self-extras expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    raw = {"": project["dependencies"], **project["optional-dependencies"]}
    own = normalise(project["name"])

    def expand(group: str, seen: frozenset[str] = frozenset()) -> set[str]:
        names: set[str] = set()
        for line in raw[group]:
            found = _NAME.match(line)
            assert found, line
            if normalise(found[1]) == own:
                for extra in (found[2] or "").split(","):
                    if extra.strip() and extra.strip() not in seen:
                        names |= expand(extra.strip(), seen | {group})
            else:
                names.add(normalise(found[1]))
        return names

    return {group: expand(group) for group in raw}


def imports(package: str) -> Iterator[tuple[str, str, bool]]:
    """Yield (top-level module, file, imported at module level) for third-party imports."""
    for path in sorted((ROOT / package).rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        lazy = {
            id(node)
            for scope in ast.walk(tree)
            if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(scope)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top in sys.stdlib_module_names or top in FIRST_PARTY:
                    continue
                yield top, str(path.relative_to(ROOT)), id(node) not in lazy


@cache
def _modules() -> Mapping[str, list[str]]:
    return packages_distributions()


def distributions(module: str) -> set[str]:
    """Return the installed distributions that give a top-level module."""
    found = _modules().get(module)
    assert found, f"{module} is imported but no installed distribution gives it"
    return {normalise(name) for name in found}


def undeclared(package: str, allowed: set[str], lazily: set[str]) -> list[str]:
    """Return "file: module (distribution)" for each import not in ``allowed``.

    ``lazily`` is allowed too for an import inside a function.
    """
    problems = []
    for module, path, top_level in imports(package):
        dists = distributions(module)
        ok = allowed if top_level else allowed | lazily
        if not dists & ok:
            problems.append(f"{path}: {module} ({', '.join(sorted(dists))})")
    return sorted(set(problems))


def test_the_dependencies_are_read_with_the_extras_expanded() -> None:
    groups = declared()
    assert {"scipy", "scikit-learn", "esda", "libpysal"} <= groups[""]
    assert {"folium", "branca", "jinja2", "markupsafe"} <= groups["maps"]
    assert groups["maps"] <= groups["api"] and "fastapi" in groups["api"]
    assert "distributed" in groups["dask"]


def test_the_core_imports_only_core_dependencies_at_module_level() -> None:
    groups = declared()
    extras = set().union(*(names for group, names in groups.items() if group))
    assert undeclared("geozone", groups[""], extras) == []


@pytest.mark.parametrize("package", ["maps", "api"])
def test_maps_and_api_import_what_their_extra_declares(package: str) -> None:
    groups = declared()
    assert undeclared(package, groups[""] | groups[package], set()) == []


def test_an_undeclared_import_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The check itself: folium in the core, and scikit-learn at module level, are reported.
    package = tmp_path / "geozone"
    package.mkdir()
    (package / "bad.py").write_text(
        "import folium\nimport sklearn.neighbors\n\ndef f():\n    import distributed\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    problems = undeclared("geozone", {"numpy"}, {"distributed", "scikit-learn"})
    assert problems == [
        "geozone/bad.py: folium (folium)",
        "geozone/bad.py: sklearn (scikit-learn)",
    ]
