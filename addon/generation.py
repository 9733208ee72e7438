"""One backend job (generate, edit or extend), run on a worker thread (no bpy).

The worker connects (starting the local backend if needed), submits the job and forwards its
progress; the main thread reads everything through `poll()`, so socket waits never happen there.
A modal operator polls from its timer; headless, the operator simply `wait()`s.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from .backend.moscale.serving.client import BackendError, BackendTimeout, BackendUnavailable
from .backend.moscale.serving.protocol import MotionData
from .backend_process import Backend, BackendSettings

RESULT_TIMEOUT = 600.0  # a long motion on a slow CPU; the backend dying is noticed at once anyway
POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    seconds: float
    seed: int
    guidance: float
    variations: int = 1  # takes: motions of seeds seed, seed + 1, ...

    def submit(self, client):
        return client.submit("generate", prompt=self.prompt, seconds=self.seconds, seed=self.seed,
                             guidance=self.guidance, variations=self.variations)


@dataclass(frozen=True)
class SegmentsRequest:
    """One continuous motion of several prompts in a row: (prompt, seconds) each."""

    segments: tuple[tuple[str, float], ...]
    seed: int
    guidance: float

    @property
    def prompt(self) -> str:
        """The prompts as the backend joins them, for the action's stored prompt."""
        return " | ".join(prompt for prompt, _ in self.segments)

    def submit(self, client):
        return client.submit("generate", segments=[{"prompt": p, "seconds": s} for p, s in self.segments],
                             seed=self.seed, guidance=self.guidance)


@dataclass(frozen=True, eq=False)
class EditRequest:
    """Regenerate motion frames [start, end) of a 20 fps context given as joint positions [T, 22, 3]."""

    prompt: str
    context: np.ndarray
    start: int
    end: int
    blend: int
    seed: int
    guidance: float

    def submit(self, client):
        return client.submit("edit", {"context.positions": (self.context, "float32")}, prompt=self.prompt,
                             start=self.start, end=self.end, blend=self.blend, seed=self.seed,
                             guidance=self.guidance, context_fps=20)


@dataclass(frozen=True, eq=False)
class ExtendRequest:
    """Continue a 20 fps context given as joint positions [T, 22, 3] by `frames` frames."""

    prompt: str
    context: np.ndarray
    frames: int
    seed: int
    guidance: float

    def submit(self, client):
        return client.submit("extend", {"context.positions": (self.context, "float32")}, prompt=self.prompt,
                             frames=self.frames, seed=self.seed, guidance=self.guidance, context_fps=20)


class GenerationTask:
    """A request in flight: `stage`/`fraction` for the progress bar, then `motions` or `error`."""

    def __init__(self, backend: Backend, settings: BackendSettings, request):
        self.backend, self.settings, self.request = backend, settings, request
        self.stage, self.fraction = "Connecting to the backend", 0.0
        self.motions: list[MotionData] | None = None
        self.error: BackendError | None = None
        self._events: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="moscale-generate", daemon=True)

    @property
    def done(self) -> bool:
        return self.motions is not None or self.error is not None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> GenerationTask:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the worker to cancel the backend job; `poll` then reports JobCancelled."""
        self._cancel.set()

    def poll(self) -> bool:
        """Take the worker's news (main thread); True once the task is done."""
        while True:
            try:
                kind, value = self._events.get_nowait()
            except queue.Empty:
                return self.done
            if kind == "progress":
                self.stage, self.fraction = value
            elif kind == "motions":
                self.motions = value
            else:
                self.error = value

    def wait(self) -> None:
        """Block until the worker is done (headless use); bounded by the worker's own time-outs."""
        self._thread.join()
        self.poll()

    def _run(self) -> None:
        try:
            client = self.backend.ensure_client(self.settings)
            job = self.request.submit(client)
            self._events.put(("progress", ("Queued", 0.0)))
            deadline = time.monotonic() + RESULT_TIMEOUT
            cancel_sent = False
            while not job.done:  # poll, not a blocking wait, so a cancel request is seen at once
                for event in job.poll():
                    self._events.put(("progress", (event["stage"], event["fraction"])))
                if self._cancel.is_set() and job.id is not None and not cancel_sent:
                    cancel_sent = True
                    try:
                        client.request("cancel", job=job.id)
                    except BackendError as exc:
                        if exc.code != "job_not_found":  # else it has just finished
                            raise
                if time.monotonic() > deadline:
                    raise BackendTimeout("timeout", f"The backend gave no result within {RESULT_TIMEOUT:g} s.")
                time.sleep(POLL_INTERVAL)
            self.backend.queued = client.status()["stats"]["queued"]
            self._events.put(("motions", job.motions))
        except BackendUnavailable as exc:
            self.backend.disconnect()
            self._events.put(("error", exc))
        except BackendError as exc:
            self._events.put(("error", exc))
        except Exception as exc:  # a bug must still end the task, or the operator would wait forever
            self._events.put(("error", BackendError("internal", f"Unexpected error talking to the backend: {exc!r}")))
