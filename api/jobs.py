"""Background import jobs, kept in memory.

A job lives as long as the process: a restart forgets jobs (the import batches themselves are
in the store and an interrupted import resumes when the same file is posted again). Memory is
bounded: at most :data:`MAX_JOBS` jobs are kept (the oldest finished ones are forgotten first)
and a report keeps the first :data:`MAX_REPORTED_REJECTS` rejected rows (every rejected row
stays with the import batch in the store).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from api.errors import UnknownJobError

JobStatus = Literal["queued", "running", "done", "failed"]
#: Most jobs kept in memory.
MAX_JOBS = 500
#: Most rejected rows a job's report keeps in memory.
MAX_REPORTED_REJECTS = 1_000


@dataclass
class Job:
    """One background import."""

    id: str
    kind: str
    source: str
    owner: str | None = None
    status: JobStatus = "queued"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    rows_done: int = 0
    rows_total: int | None = None
    report: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the job as JSON-ready data."""
        return dict(self.__dict__)


class Jobs:
    """A thread-safe registry of jobs."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def new(self, kind: str, source: str, owner: str | None = None) -> Job:
        """Register a queued job submitted by the key named ``owner``; forget old finished ones."""
        job = Job(uuid.uuid4().hex, kind, source, owner)
        with self._lock:
            self._jobs[job.id] = job
            finished = [j.id for j in self._jobs.values() if j.status in ("done", "failed")]
            for old in finished[: max(0, len(self._jobs) - MAX_JOBS)]:  # oldest first
                del self._jobs[old]
        return job

    def get(self, job_id: str) -> Job:
        """Return a job.

        Raises
        ------
        UnknownJobError
            No job has that id (jobs are forgotten when the service restarts).
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise UnknownJobError(f"no job {job_id!r} (jobs are kept in memory until restart)")
        return job
