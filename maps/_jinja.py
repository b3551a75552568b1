"""The Jinja2 environment the printable pages are rendered with (templates in ``maps/templates``).

Templates ship inside the ``maps`` package (:class:`jinja2.PackageLoader`), so an installed
wheel renders them without a checkout. ``*.html.j2`` and ``*.svg.j2`` templates are
autoescaped; ``*.css`` files are plain text included as they are.

Every value a template prints is escaped with :func:`maps.elements.esc` (``html.escape``
with quotes, None printed as nothing) unless it is :class:`markupsafe.Markup` already: the
same escaping as every other map page. Jinja's own escaping (markupsafe) would write quotes
as ``&#34;`` and ``&#39;`` where the pages write ``&quot;`` and ``&#x27;``.
"""

from __future__ import annotations

from typing import Any

import jinja2
from markupsafe import Markup

from maps.elements import esc


def _escaped(value: object) -> Markup:
    """Escape a printed value the way the map pages do (Markup stays as it is)."""
    return value if isinstance(value, Markup) else Markup(esc(value))


ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("maps", "templates"),
    autoescape=jinja2.select_autoescape(
        enabled_extensions=("html.j2", "svg.j2"), disabled_extensions=("css",), default=True
    ),
    finalize=_escaped,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, /, **context: Any) -> Markup:
    """Render a template with ``context``.

    Parameters
    ----------
    template
        A file in ``maps/templates``.
    **context
        The template's variables (plain values are escaped when printed).

    Returns
    -------
    markupsafe.Markup
        The rendered markup, safe to print in another template.
    """
    return Markup(ENVIRONMENT.get_template(template).render(**context))


def source(name: str) -> str:
    """Return the text of a file in ``maps/templates`` as it is (a stylesheet)."""
    text, _, _ = ENVIRONMENT.loader.get_source(ENVIRONMENT, name)  # type: ignore[union-attr]
    return text
