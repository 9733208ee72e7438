"""Dynamic batching and cancellation in the job queue (no model, no sockets)."""

import threading
import time

import pytest
from moscale.serving.jobs import Job, JobQueue
from moscale.serving.protocol import ProtocolError


class Recorder:
    def __init__(self):
        self.sent = []

    def send(self, header, arrays=None):
        self.sent.append(header)
        return True

    def forget(self, job):
        pass


def job(key="a", size=1, connection=None):
    return Job("generate", {}, connection or Recorder(), request_id=1, size=size, batch_key=key)


def test_compatible_jobs_are_merged_up_to_the_batch_limit():
    queue = JobQueue()
    jobs = [queue.submit(job("a", size=2)), queue.submit(job("b")), queue.submit(job("a", size=2)),
            queue.submit(job("a", size=2))]
    batch = queue.take(max_batch=4, batch_wait=0.0)
    assert batch == [jobs[0], jobs[2]] and all(j.status == "running" and j.batch_jobs == 2 for j in batch)
    assert queue.take(max_batch=4, batch_wait=0.0) == [jobs[1]]
    assert queue.snapshot()["batched_jobs"] == 2 and queue.snapshot()["largest_batch"] == 2


def test_the_wait_for_more_jobs_is_bounded_and_catches_late_arrivals():
    queue = JobQueue()
    queue.submit(job())
    started = time.monotonic()
    assert len(queue.take(max_batch=8, batch_wait=0.05)) == 1
    assert time.monotonic() - started < 0.5
    queue.submit(job())
    threading.Timer(0.02, lambda: queue.submit(job())).start()
    assert len(queue.take(max_batch=8, batch_wait=1.0)) == 2  # the late one joined


def test_the_wait_is_skipped_when_no_other_client_could_send():
    queue = JobQueue()
    first = queue.submit(job())
    asked = []
    batch = queue.take(max_batch=8, batch_wait=3600.0, others_may_send=lambda j: asked.append(j) or False)
    assert batch == [first] and asked == [first]  # an hour's wait would hang here


def test_unbatchable_jobs_run_alone():
    queue = JobQueue()
    queue.submit(job(key=None))
    queue.submit(job(key=None))
    assert len(queue.take(max_batch=8, batch_wait=0.0)) == 1


def test_cancel_drops_queued_jobs_and_flags_running_ones():
    queue = JobQueue()
    connection = Recorder()
    queued = queue.submit(job(connection=connection))
    assert queue.cancel(queued) == "cancelled" and connection.sent[-1]["code"] == "cancelled"
    running = queue.submit(job())
    assert queue.take(8, 0.0) == [running]
    assert queue.cancel(running) == "running" and running.cancel_requested.is_set()


def test_finished_jobs_are_kept_for_status_without_their_inputs():
    queue = JobQueue()
    edit = queue.submit(Job("edit", {"context": [[0.0] * 3] * 22}, Recorder(), request_id=1))
    assert queue.take(8, 0.0) == [edit]
    queue.finished(edit)
    assert queue.get(edit.id) is edit and edit.params == {}


def test_limits_and_closing():
    queue = JobQueue(max_queued=1)
    queue.submit(job())
    with pytest.raises(ProtocolError) as error:
        queue.submit(job())
    assert error.value.code == "busy"
    assert len(queue.close()) == 1 and queue.take(8, 0.0) is None
    with pytest.raises(ProtocolError) as error:
        queue.submit(job())
    assert error.value.code == "shutting_down"
    with pytest.raises(ProtocolError) as error:
        queue.get("job-404")
    assert error.value.code == "job_not_found"
