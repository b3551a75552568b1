"""Incidents: query and show (analyst key), post and import files as jobs (planner key).

A job's status and report (rejected rows included) are shown to the key that submitted it and
to admin keys only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from api.deps import (
    ContextDep,
    JobsDep,
    ScopedAnalystDep,
    ScopedPlannerDep,
    SettingsDep,
    StoreDep,
    check_owner,
    summarise,
)
from api.errors import PayloadTooLargeError
from api.params import QueryTime
from api.problems import problem, problems
from api.schemas import (
    INCIDENT_EXAMPLE,
    IncidentCollection,
    IncidentOut,
    IncidentsPosted,
    JobOut,
)
from api.scopes import incident_in_scope, query_detectors, query_units, scope_units
from api.services import incidents as service
from api.services.clusters import run_reassign
from api.services.common import jsonable, page_links, parse_bbox
from geozone.errors import IncidentFileError, InvalidParameterError, UnknownIncidentError
from geozone.incidents.notices import unfinished_import_notices
from geozone.incidents.pipeline import context_stamp
from geozone.store import IncidentQuery
from geozone.store.base import MAX_QUERY_OFFSET

router = APIRouter(tags=["incidents"])
_AUTH = problems(401, 403)


@router.post(
    "/incidents",
    response_model=IncidentsPosted,
    responses={
        200: {
            "description": "What was stored, and each rejected record with its index.",
            "links": {
                "GetIncident": {
                    "operationRef": "#/paths/~1incidents~1{external_id}/get",
                    "parameters": {"external_id": "$request.body#/external_id"},
                    "description": "The incident posted as one object.",
                }
            },
        },
        **_AUTH,
        **problems(400, 413, 422, 503),
    },
    summary="Store and assign incidents",
)
def post_incidents(
    request: Request,
    caller: ScopedPlannerDep,
    store: StoreDep,
    context: ContextDep,
    settings: SettingsDep,
    jobs: JobsDep,
    tasks: BackgroundTasks,
    body: Annotated[
        dict[str, Any] | list[Any],
        Body(openapi_examples={"one": {"value": INCIDENT_EXAMPLE}}),
    ],
) -> dict[str, Any] | JSONResponse:
    """Validate one record or a list; store the valid ones and assign them.

    Each rejected record is reported with its index in the list, the field and the reason;
    the others are stored; when every record is rejected the answer is 422 with the same
    list of rejects. Writes are idempotent: a record whose ``external_id`` is stored
    already counts as a duplicate and changes nothing, so a request may be sent again. When
    another writer holds the store too long the answer is 503 with ``Retry-After`` and
    nothing of the request is stored. A key with scopes writes inside them only: when a
    valid record lies outside them (by where it is, in the set in force on its date) the
    answer is 403 naming every such record (``outside_scope``) and nothing is stored.
    """
    records = [body] if isinstance(body, dict) else body
    if len(records) > settings.api_max_incidents:
        raise PayloadTooLargeError(
            f"{len(records):,} incidents; at most {settings.api_max_incidents:,} per request"
        )
    scope = (scope_units(context, caller.scopes), caller.scopes) if caller.scopes else None
    try:
        report = service.post_incidents(store, context, records, scope)
    except service.OutsideScopeError as exc:
        summarise(request, f"refused {len(exc.rows)} incidents outside the key's scopes")
        return problem(403, str(exc), title="Outside the key's scope", outside_scope=exc.rows)
    if store.stale_ids(context_stamp(context), limit=1):  # judged before a context change
        registry = request.app.state.clusters
        job = jobs.new("reassign", "incidents judged before the context changed", caller.name)
        tasks.add_task(run_reassign, job, store, registry)
        report["reassign_job"] = jsonable(job.to_dict())
    summarise(
        request,
        f"posted {report['received']} incidents: {report['stored']} stored, "
        f"{len(report['rejects'])} rejects",
    )
    if records and len({r["index"] for r in report["rejects"]}) == len(records):
        return problem(
            422,
            f"none of the {len(records):,} records is valid; nothing was stored",
            title="Invalid records",
            rejects=report["rejects"],
        )
    return report


@router.get(
    "/incidents",
    response_model=IncidentCollection,
    responses={**_AUTH, **problems(400, 422)},
    summary="Query incidents (GeoJSON)",
)
def query_incidents(
    request: Request,
    caller: ScopedAnalystDep,
    context: ContextDep,
    store: StoreDep,
    bbox: Annotated[str | None, Query(max_length=200, description="minx,miny,maxx,maxy")] = None,
    start: Annotated[QueryTime | None, Query(description="occurred_at >= start")] = None,
    end: Annotated[QueryTime | None, Query(description="occurred_at < end")] = None,
    category: Annotated[list[str] | None, Query(max_length=50)] = None,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    cluster: Annotated[str | None, Query(max_length=64)] = None,
    in_border_zone: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_QUERY_OFFSET)] = 0,
) -> dict[str, Any]:
    """Return one page of matching incidents with their assignment, as GeoJSON.

    A key with scopes gets only the incidents its scopes cover (:mod:`api.scopes`).
    ``notices`` names an unfinished import of the store: its reports may show as separate
    events (``event_id``, ``event_role``) until it is finished or linked; then, when a row
    of the page was judged on a boundary set that is one snapshot for a day outside it (a
    2015 incident on vn-legacy-districts, about 02/2023), that set's snapshot notice, once.
    """
    query = IncidentQuery(
        bbox=parse_bbox(bbox),
        start=start,
        end=end,
        categories=tuple(category) if category else None,
        unit_code=unit,
        cluster_id=cluster,
        in_border_zone=in_border_zone,
        limit=limit,
        offset=offset,
        units=query_units(context, caller.scopes),
        detectors=query_detectors(context, caller.scopes),
    )
    frame, total = store.query(query)
    features = service.incident_features(frame)
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": total,
        "numberReturned": len(features),
        "links": page_links(
            request.url, offset, limit, len(features), total, "application/geo+json"
        ),
        "notices": unfinished_import_notices(store) + service.page_notices(context, frame),
    }


@router.get(
    "/incidents/{external_id}",
    response_model=IncidentOut,
    responses={**_AUTH, **problems(404)},
    summary="One incident with its assignment",
)
def get_incident(
    caller: ScopedAnalystDep, context: ContextDep, store: StoreDep, external_id: str
) -> dict[str, Any]:
    """Return the incident, its unit assignment and its cluster decisions.

    ``assignment.current`` says whether the decisions were made under the service's present
    context (builds, clusters and confirmations, rules); when not, ``problems`` says they are
    being recomputed. An incident outside a scoped key's scopes is answered as unknown
    (404): the key learns nothing of it, not even that it exists. ``notices`` names an
    unfinished import of the store, as ``GET /incidents`` does: the incident's event (its
    ``event_id`` and ``event_role``, and the decisions judged with them) may be wrong until
    it is finished or linked; then what ``GET /locate`` says for its point and date (the
    boundary set's snapshot, the clusters that do not apply that day).
    """
    found = store.get(external_id)
    if not incident_in_scope(context, caller.scopes, found):
        found = None
    if found is None:
        raise UnknownIncidentError(f"no incident with external id {external_id!r}")
    data: dict[str, Any] = jsonable(found)
    assignment = data.get("assignment")
    if assignment is not None:
        assignment["current"] = assignment["assigned_with"] == context_stamp(context)
        if not assignment["current"]:
            data["problems"].append(
                "the decisions were made before a change of context (a cluster confirmed or "
                "withdrawn, new boundaries, new rules) and are being recomputed; ask again later"
            )
    data["notices"] = unfinished_import_notices(store) + service.incident_notices(context, found)
    return data


@router.post(
    "/incidents/{external_id}/unlink",
    responses={**_AUTH, **problems(400, 404, 422)},
    summary="Unlink two reports wrongly linked as one event",
)
def unlink_incident(
    request: Request,
    caller: ScopedAnalystDep,
    context: ContextDep,
    store: StoreDep,
    external_id: str,
    body: Annotated[
        dict[str, Any],
        Body(openapi_examples={"one": {"value": {"other": "HN-2025-000124", "note": "two"}}}),
    ],
) -> dict[str, Any]:
    """Keep that ``external_id`` and ``other`` are not one event; the decision is kept.

    A planner or analyst unlinks a pair the linking joined wrongly: the two reports are
    never linked directly again (by later imports too); their event is relinked without the
    pair and the reports whose role changed are judged again (a cooperating report is
    judged with its event's first detector). A key with scopes unlinks only incidents its
    scopes cover; another is answered as unknown (404).
    """
    other = body.get("other")
    note = body.get("note")
    if not isinstance(other, str) or not other or not (note is None or isinstance(note, str)):
        raise InvalidParameterError(
            'the body must be {"other": "<external id>", "note": "<text>" (optional)}'
        )
    for wanted in (external_id, other):  # a scoped key unlinks what it may read only
        if not incident_in_scope(context, caller.scopes, store.get(wanted)):
            raise UnknownIncidentError(f"no incident with external id {wanted!r}")
    report = service.unlink_incidents(store, context, external_id, other, caller.name, note)
    summarise(request, f"unlinked {external_id} and {other}")
    data: dict[str, Any] = jsonable(report)
    return data


@router.post(
    "/incidents/import",
    response_model=JobOut,
    status_code=202,
    responses={**_AUTH, **problems(400, 413, 422)},
    summary="Import an incident file (background job)",
)
def import_incidents(
    request: Request,
    caller: ScopedPlannerDep,
    store: StoreDep,
    context: ContextDep,
    settings: SettingsDep,
    jobs: JobsDep,
    tasks: BackgroundTasks,
    file: Annotated[UploadFile, File(description="CSV, GeoJSON, GeoPackage or Parquet")],
    crs: Annotated[str, Form(max_length=64)] = "4326",
) -> dict[str, Any]:
    """Start importing a file; follow it with ``GET /jobs/{id}`` (jobs live in memory).

    A key with scopes imports inside them only: the job reads the file first and, when a
    valid row lies outside them, fails naming the rows (``outside_scope``), nothing stored.
    """
    name = Path(file.filename or "").name
    if Path(name).suffix.lower() not in service.IMPORT_SUFFIXES:
        raise IncidentFileError(
            f"file {name!r}: expected one of {', '.join(service.IMPORT_SUFFIXES)}"
        )
    path = service.save_upload(file.file, name, settings.api_max_upload_bytes)
    job = jobs.new("import", name, caller.name)
    scope = (scope_units(context, caller.scopes), caller.scopes) if caller.scopes else None
    tasks.add_task(service.run_import, job, path, store, context, crs, scope)
    summarise(request, f"import job {job.id} for {name}")
    return job.to_dict()


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses={**_AUTH, **problems(404)},
    summary="A background job's status and report",
)
def get_job(caller: ScopedAnalystDep, jobs: JobsDep, job_id: str) -> dict[str, Any]:
    """Return a job: status, progress and, when done, the report with rejected rows.

    Only the key that submitted the job and admin keys without scopes may read it (403
    otherwise): a scoped key reads its own jobs, which hold its own rows only.
    """
    job = jobs.get(job_id)
    check_owner(job.owner, caller, f"job {job_id}")
    data = job.to_dict()
    if caller.scopes and job.kind == "reassign":
        # Reassignment counts every stale incident of the store, beyond the key's scopes.
        data.update(rows_done=0, rows_total=None, report=None)
    return data
