"""The job queue shared by all connections, with dynamic batching and cooperative cancellation.

Connection threads submit jobs; one worker thread takes them, merging queued generate jobs with
the same sampling options into one forward batch. It waits at most `batch_wait` seconds for more
such jobs, and only when another client could send one, so a lone client's request starts at once.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable

from .protocol import ProtocolError

HISTORY = 1000  # finished jobs kept for `status`; older ones are forgotten so memory stays flat


@dataclass(eq=False)  # identity: jobs live in sets and are removed from the queue by identity
class Job:
    op: str
    params: dict
    connection: object  # has send(header, arrays=None) -> bool and forget(job)
    request_id: object
    size: int = 1  # motions this job adds to a forward batch
    batch_key: str | None = None  # jobs with equal keys may share a forward batch; None never does
    id: str = ""
    status: str = "queued"  # queued, running, done, failed, cancelled
    stage: str = ""
    fraction: float = 0.0
    batch_jobs: int = 0
    created: float = field(default_factory=time.monotonic)
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    def describe(self) -> dict:
        return {"job": self.id, "op": self.op, "status": self.status, "stage": self.stage,
                "fraction": round(self.fraction, 4), "batch_jobs": self.batch_jobs,
                "age": round(time.monotonic() - self.created, 3)}

    def send(self, header: dict, arrays: dict | None = None) -> bool:
        return self.connection.send(dict(header, id=self.request_id, job=self.id), arrays)

    def fail(self, code: str, message: str, status: str = "failed") -> None:
        self.status = status
        self.send({"type": "error", "code": code, "message": message})


class JobQueue:
    def __init__(self, max_queued: int = 256):
        self.max_queued = max_queued
        self._condition = threading.Condition()
        self._queue: deque[Job] = deque()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._ids = itertools.count(1)
        self._closed = False
        self.stats = {"jobs_submitted": 0, "jobs_finished": 0, "batches": 0, "batched_jobs": 0, "largest_batch": 0}

    def submit(self, job: Job) -> Job:
        with self._condition:
            if self._closed:
                raise ProtocolError("shutting_down")
            if len(self._queue) >= self.max_queued:
                raise ProtocolError("busy", f"{len(self._queue)} jobs are already queued; try again shortly")
            job.id = f"job-{next(self._ids)}"
            self._queue.append(job)
            self._jobs[job.id] = job
            while len(self._jobs) > HISTORY and self._forget_oldest_finished():
                pass
            self.stats["jobs_submitted"] += 1
            self._condition.notify_all()
        return job

    def _forget_oldest_finished(self) -> bool:
        for key, old in self._jobs.items():
            if old.status in ("done", "failed", "cancelled"):
                del self._jobs[key]
                return True
        return False

    def get(self, job_id) -> Job:
        with self._condition:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            raise ProtocolError("job_not_found", f"no job {job_id!r} on this server")
        return job

    def position(self, job: Job) -> int:
        with self._condition:
            return self._queue.index(job) if job in self._queue else 0

    def take(self, max_batch: int, batch_wait: float,
             others_may_send: Callable[[Job], bool] = lambda job: True) -> list[Job] | None:
        """Block for the next job and return it with compatible queued jobs; None once closed.

        The wait of up to `batch_wait` for more compatible jobs only happens when
        `others_may_send(first job)`: merging needs a second client, and without one it is pure delay.
        """
        with self._condition:
            while not self._queue and not self._closed:
                self._condition.wait()
            if self._closed:
                return None
            batch = [self._queue.popleft()]
            key = batch[0].batch_key
            if key is not None:
                deadline = time.monotonic() + (batch_wait if others_may_send(batch[0]) else 0.0)
                while True:
                    size = sum(job.size for job in batch)
                    for job in list(self._queue):
                        if job.batch_key == key and size + job.size <= max_batch:
                            self._queue.remove(job)
                            batch.append(job)
                            size += job.size
                    remaining = deadline - time.monotonic()
                    if size >= max_batch or remaining <= 0 or self._closed:
                        break
                    self._condition.wait(remaining)
            for job in batch:
                job.status, job.batch_jobs = "running", len(batch)
            self.stats["batches"] += 1
            self.stats["batched_jobs"] += len(batch) if len(batch) > 1 else 0
            self.stats["largest_batch"] = max(self.stats["largest_batch"], len(batch))
            return batch

    def cancel(self, job: Job, reason: str = "cancelled by the client") -> str:
        """Cancel a job: a queued one is dropped now (and told so), a running one is asked to stop."""
        with self._condition:
            queued = job in self._queue
            if queued:
                self._queue.remove(job)
                job.status = "cancelled"
            elif job.status in ("queued", "running"):
                job.cancel_requested.set()
        if queued:
            job.fail("cancelled", reason, status="cancelled")
            self.finished(job)
        return job.status

    def finished(self, job: Job) -> None:
        with self._condition:
            self.stats["jobs_finished"] += 1
            job.params = {}  # `status` never needs the inputs, and an edit's context can be megabytes
        job.connection.forget(job)

    def close(self) -> list[Job]:
        """Stop taking jobs; return the queued ones (the caller tells their clients)."""
        with self._condition:
            self._closed = True
            dropped = list(self._queue)
            self._queue.clear()
            for job in dropped:
                job.status = "cancelled"
            self._condition.notify_all()
        return dropped

    def snapshot(self) -> dict:
        with self._condition:
            open_jobs = sum(job.status in ("queued", "running") for job in self._jobs.values())
            return {**self.stats, "queued": len(self._queue), "open_jobs": open_jobs}
