"""An OpenAPI 3.0 rendering of the service's 3.1 document, for OGC API clients.

FastAPI writes OpenAPI 3.1; OGC API – Features' ``oas30`` conformance class, GDAL, QGIS and
OWSLib read 3.0 (OWSLib only follows a ``service-desc`` link typed
``application/vnd.oai.openapi+json;version=3.0``). The document is the same API written in
3.0's dialect of JSON Schema:

- ``anyOf: [X, {type: null}]`` and ``type: [X, "null"]`` become X with ``nullable: true``
  (a ``$ref`` X is wrapped in ``allOf``, since 3.0 ignores a ``$ref``'s siblings);
- ``const`` becomes a one-value ``enum``; ``examples`` (a list) the first as ``example``;
- numeric ``exclusiveMinimum``/``exclusiveMaximum`` become ``minimum``/``maximum`` with the
  boolean flag;
- ``contentMediaType``/``contentEncoding`` of file parts become ``format: binary``;
- 3.1-only keys (``webhooks``, ``jsonSchemaDialect``, ``info.summary``,
  ``license.identifier``, ``$schema``, ``prefixItems``…) are dropped.

The OGC ``limit`` parameter gets its ``maximum`` (:data:`api.services.ogc.MAX_LIMIT`): in OGC
API a larger value is clamped, not refused, and clients (GDAL) read the maximum to size
their pages.
"""

from __future__ import annotations

import copy
from typing import Any

from api.services.ogc import MAX_LIMIT

_DROPPED = ("$schema", "$id", "prefixItems", "unevaluatedProperties", "contentSchema", "$defs")


def schema30(schema: Any) -> Any:
    """Return a JSON Schema (OpenAPI 3.1 dialect) in OpenAPI 3.0's Schema Object dialect."""
    if isinstance(schema, list):
        return [schema30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: schema30(s) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = schema30(value) if isinstance(value, dict) else value
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [schema30(s) for s in value]
        elif key == "const":
            out["enum"] = [value]
        elif key == "examples":
            if isinstance(value, list) and value:
                out["example"] = value[0]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "contentMediaType":
            out["format"] = "binary"
        elif key == "contentEncoding":
            continue
        else:
            out[key] = value
    if isinstance(out.get("type"), list):
        kinds = [t for t in out["type"] if t != "null"]
        if len(kinds) < len(out["type"]):
            out["nullable"] = True
        if len(kinds) == 1:
            out["type"] = kinds[0]
        else:
            options = [{"type": t} for t in kinds]
            del out["type"]
            out["anyOf"] = options
    if out.get("type") == "null":
        del out["type"]
        out["nullable"] = True
    for combiner in ("anyOf", "oneOf"):
        given: list[dict[str, Any]] = out.get(combiner) or []
        if not given:
            continue
        kept = [o for o in given if o != {"nullable": True}]
        if len(kept) == len(given):
            continue
        out["nullable"] = True
        if len(kept) == 1:
            del out[combiner]
            only = kept[0]
            if "$ref" in only:
                out["allOf"] = [only]
            else:
                for key, value in only.items():
                    out.setdefault(key, value)
        else:
            out[combiner] = kept
    if "$ref" in out and len(out) > 1:  # 3.0 ignores a $ref's siblings
        ref = {"$ref": out.pop("$ref")}
        out["allOf"] = [ref, *out.get("allOf", [])]
    return out


def _media(content: dict[str, Any]) -> dict[str, Any]:
    for media in content.values():
        if "schema" in media:
            media["schema"] = schema30(media["schema"])
        if "encoding" in media:
            for part in media["encoding"].values():
                for header in part.get("headers", {}).values():
                    if "schema" in header:
                        header["schema"] = schema30(header["schema"])
    return content


def _operation(operation: dict[str, Any], ogc_items: bool) -> None:
    for parameter in operation.get("parameters", []):
        if "schema" in parameter:
            parameter["schema"] = schema30(parameter["schema"])
            if ogc_items and parameter.get("name") == "limit":
                parameter["schema"].update({"minimum": 1, "maximum": MAX_LIMIT})
        if "content" in parameter:
            _media(parameter["content"])
    body = operation.get("requestBody")
    if isinstance(body, dict) and "content" in body:
        _media(body["content"])
    for response in operation.get("responses", {}).values():
        if "content" in response:
            _media(response["content"])
        for header in response.get("headers", {}).values():
            if "schema" in header:
                header["schema"] = schema30(header["schema"])


def openapi30(document: dict[str, Any]) -> dict[str, Any]:
    """Return the OpenAPI 3.0.3 rendering of an OpenAPI 3.1 document (a new object)."""
    doc = copy.deepcopy(document)
    doc["openapi"] = "3.0.3"
    for key in ("webhooks", "jsonSchemaDialect"):
        doc.pop(key, None)
    info = doc.get("info", {})
    summary = info.pop("summary", None)
    if summary and "description" not in info:
        info["description"] = summary
    info.get("license", {}).pop("identifier", None)
    methods = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
    for path, item in doc.get("paths", {}).items():
        for method in methods:
            if method in item:
                _operation(item[method], path == "/collections/{collection_id}/items")
        for parameter in item.get("parameters", []):
            if "schema" in parameter:
                parameter["schema"] = schema30(parameter["schema"])
    components = doc.get("components", {})
    components.pop("pathItems", None)
    for name, schema in components.get("schemas", {}).items():
        components["schemas"][name] = schema30(schema)
    for response in components.get("responses", {}).values():
        if "content" in response:
            _media(response["content"])
    for parameter in components.get("parameters", {}).values():
        if "schema" in parameter:
            parameter["schema"] = schema30(parameter["schema"])
    return doc
