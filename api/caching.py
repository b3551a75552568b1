"""Validators for the resources that change only with the data: boundaries, units, clusters.

Sets, units, neighbours, cluster definitions, their border zones and migrations are computed
from the loaded context alone (the boundary builds, the cluster definitions with their
confirmations, the rule table): :func:`geozone.incidents.pipeline.context_stamp` names it.
:class:`ContextETags` gives each such GET answer a weak ``ETag`` made of that stamp, the
URL and the negotiated media type, with ``Cache-Control: no-cache`` (a client keeps the
answer and asks again each time); a request whose ``If-None-Match`` holds the tag is
answered ``304 Not Modified`` without the work. A new build, a planner's cluster or a
confirmation changes the stamp, so no stale answer is ever validated.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from starlette._utils import get_route_path
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geozone.context import Context
from geozone.incidents.pipeline import context_stamp

#: The paths whose GET answers depend on the loaded context only.
CONTEXT_PATHS = re.compile(
    r"/sets|/units(/[^/]+(/neighbours)?)?|/clusters(/[^/]+(/zones|/migrate)?)?"
)


class ContextETags:
    """ASGI middleware: ``ETag``/``304`` for the answers of :data:`CONTEXT_PATHS`."""

    def __init__(self, app: ASGIApp, context_of: Callable[[Scope], Context]) -> None:
        self.app = app
        self.context_of = context_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 304 when the client's tag still holds, else tag the answer."""
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not CONTEXT_PATHS.fullmatch(get_route_path(scope))
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        query = scope.get("query_string", b"").decode("latin-1")
        key = "\n".join(
            [
                context_stamp(self.context_of(scope)),
                get_route_path(scope),
                query,
                headers.get("accept", ""),
            ]
        )
        tag = f'W/"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'
        validators = {"ETag": tag, "Cache-Control": "no-cache"}
        if tag in [t.strip() for t in headers.get("if-none-match", "").split(",")]:
            await send({"type": "http.response.start", "status": 304, "headers": _raw(validators)})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_tagged(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                tagged = MutableHeaders(scope=message)
                for name, value in validators.items():
                    tagged[name] = value
            await send(message)

        await self.app(scope, receive, send_tagged)


def _raw(headers: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), str(value).encode()) for name, value in headers.items()]


__all__ = ["CONTEXT_PATHS", "ContextETags"]
