"""Structured logs: one JSON object a line, and one line per request.

``GEOZONE_LOG_FORMAT=json`` (``geozone serve --production``) makes every log line of the
service a JSON object (:class:`JsonFormatter`: ``time``, ``level``, ``logger``, ``message``,
and the request fields below when present) and logs each request once
(:class:`RequestLog`, logger ``geozone.access``) with ``method``, ``path`` (without the query
string), ``status``, ``duration_ms``, ``request_id`` and ``client``. The request id is the
request's ``X-Request-ID`` when it sends a plausible one (a proxy's), else a new one; it is
sent back in the answer's ``X-Request-ID``. No header is logged, so no API key is either.

:data:`LOG_CONFIG` is the logging configuration for uvicorn (``log_config=``; the same as
``deploy/logging.json``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_access = logging.getLogger("geozone.access")
#: The request fields a log record may carry (``extra=``), in the order they are written.
REQUEST_FIELDS = ("method", "path", "status", "duration_ms", "request_id", "client")
#: An acceptable incoming request id: what proxies send (nginx's $request_id, UUIDs).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON: time (UTC, ms), level, logger, message, fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one JSON object (no newline inside)."""
        stamp = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in REQUEST_FIELDS:
            if field in record.__dict__:
                line[field] = record.__dict__[field]
        line["pid"] = record.process
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class RequestLog:
    """Log each HTTP request once, as it ends, and answer its request id (see module notes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request, pass on its answer with ``X-Request-ID``, log one line."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            _access.info(
                "%s %s %d",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "request_id": request_id,
                    "client": client[0] if client else None,
                },
            )


#: uvicorn's ``log_config`` for JSON lines on stderr (run with ``access_log=False``: the
#: requests are :class:`RequestLog`'s).
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "api.logs.JsonFormatter"}},
    "handlers": {
        "default": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "geozone": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["default"], "level": "WARNING", "propagate": False},
    },
    "root": {"handlers": ["default"], "level": "WARNING"},
}
