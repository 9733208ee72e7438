"""A stdlib-only client for `moscale serve` (the Blender add-on runs it inside Blender's Python).

One socket per Client; a reader thread routes incoming frames to the request they answer, so
several jobs can run on one connection and a job can be cancelled while its caller waits on it.
Results are MotionData objects whose arrays are memoryviews (`to_numpy()` when numpy is there).
"""

from __future__ import annotations

import itertools
import queue
import socket
import threading
import time
from pathlib import Path

from . import connection_file
from .protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    ConnectionClosed,
    MotionData,
    ProtocolError,
    decode_motion,
    encode_frame,
    read_frame,
)

HINT = "Start it from the MoScale panel or run `moscale serve`."


class BackendError(Exception):
    """An error the server reported (code from protocol.ERRORS) or a client-side failure."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(message)


class BackendUnavailable(BackendError):
    """The server cannot be reached, refused us, or the connection dropped."""


class JobCancelled(BackendError):
    """The job was cancelled (by us, by another request of ours, or by a shutting-down server)."""


class BackendTimeout(BackendError):
    """No answer within the caller's time-out."""


def _raise_for(header: dict):
    code, message = header.get("code", "internal"), header.get("message", "")
    if code in ("cancelled", "shutting_down"):
        raise JobCancelled(code, message)
    if code in ("unavailable", "unauthenticated", "unsupported_version", "busy"):
        raise BackendUnavailable(code, message)
    raise BackendError(code, message)


class Job:
    """A submitted generate/edit/extend job: iterate `events()`, or wait with `result()`."""

    def __init__(self, client: Client, request_id: int):
        self.client, self.request_id = client, request_id
        self.id: str | None = None  # the server's job id, known from the first frame
        self.motions: list[MotionData] | None = None
        self.info: dict = {}
        self._frames: queue.Queue = queue.Queue()

    @property
    def done(self) -> bool:
        return self.motions is not None

    def events(self, timeout: float | None = None):
        """Yield progress events ({stage, fraction}) until the result arrives; raise on error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.motions is None:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                header, arrays = self._frames.get(timeout=remaining)
            except queue.Empty:
                raise BackendTimeout("timeout", f"job {self.id} gave no result within {timeout:g} s") from None
            event = self._handle(header, arrays)
            if event is not None:
                yield event

    def poll(self) -> list[dict]:
        """Progress events that have arrived, without blocking (for Blender timers); check `done`."""
        events = []
        while self.motions is None:
            try:
                header, arrays = self._frames.get_nowait()
            except queue.Empty:
                break
            event = self._handle(header, arrays)
            if event is not None:
                events.append(event)
        return events

    def result(self, timeout: float | None = None, progress=None) -> list[MotionData]:
        """Wait for the motions; `progress(event)` is called for each progress event."""
        for event in self.events(timeout):
            if progress is not None:
                progress(event)
        return self.motions

    def cancel(self, timeout: float = 10.0) -> str:
        """Ask the server to stop this job; its waiter then gets JobCancelled."""
        if self.id is None:  # the accepted frame is always first for our request id
            header, arrays = self._frames.get(timeout=timeout)
            self._handle(header, arrays)
        return self.client.request("cancel", job=self.id, timeout=timeout)["status"]

    def _handle(self, header: dict, arrays: dict) -> dict | None:
        self.id = header.get("job", self.id)
        kind = header.get("type")
        if kind == "error":
            self.client._pending.pop(self.request_id, None)
            _raise_for(header)
        if kind == "progress":
            return {"stage": header.get("stage", ""), "fraction": header.get("fraction", 0.0)}
        if kind == "result":
            self.client._pending.pop(self.request_id, None)
            self.info = {key: value for key, value in header.items() if key not in ("motions", "attachments")}
            self.motions = [decode_motion(meta, arrays, f"motions.{i}.") for i, meta in enumerate(header["motions"])]
        return None


class Client:
    def __init__(self, host: str, port: int, token: str, timeout: float = 30.0, connect_timeout: float = 5.0,
                 frame_timeout: float = 10.0, max_frame_bytes: int = MAX_FRAME_BYTES):
        self.host, self.port, self.timeout = host, int(port), timeout
        self.frame_timeout, self.max_frame_bytes = frame_timeout, max_frame_bytes
        self._ids = itertools.count(1)
        self._pending: dict[int, queue.Queue] = {}
        self._send_lock = threading.Lock()
        self._closed = False
        try:
            self._sock = socket.create_connection((host, self.port), timeout=connect_timeout)
        except ConnectionRefusedError:
            raise BackendUnavailable("unavailable", f"Backend not reachable at {host}:{port} (connection refused). "
                                                    f"{HINT}") from None
        except OSError as exc:
            reason = "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else exc.strerror or str(exc)
            raise BackendUnavailable("unavailable", f"Backend not reachable at {host}:{port} ({reason}). {HINT}") \
                from None
        self._sock.settimeout(frame_timeout)
        self.welcome = self._hello(token)
        self._reader = threading.Thread(target=self._read, name="moscale-client-reader", daemon=True)
        self._reader.start()

    @classmethod
    def from_connection_file(cls, path=None, **options) -> Client:
        """Connect with a connection file (default: the newest one in the per-user runtime folder)."""
        path = path or connection_file.latest()
        if path is None:
            raise BackendUnavailable("unavailable", f"No running backend found (no connection file in "
                                                    f"{connection_file.runtime_dir()}). {HINT}")
        try:
            content = connection_file.read(Path(path))
        except connection_file.ConnectionFileError as exc:
            raise BackendUnavailable("unavailable", str(exc)) from None
        return cls(content["host"], content["port"], content["token"], **options)

    def _hello(self, token: str) -> dict:
        try:
            self._sock.sendall(encode_frame({"op": "hello", "id": 0, "protocol_version": PROTOCOL_VERSION,
                                             "token": token, "client": "moscale.serving.client"}))
            header, _ = read_frame(self._sock, self.max_frame_bytes, self.frame_timeout)
        except (OSError, ConnectionClosed, ProtocolError) as exc:
            self._sock.close()
            raise BackendUnavailable("unavailable", f"Backend at {self.host}:{self.port} did not complete the "
                                                    f"handshake ({exc}). {HINT}") from None
        if header.get("type") != "welcome":
            self._sock.close()
            _raise_for(header)
        return header

    # ----------------------------------------------------------------------------- plumbing
    def _read(self) -> None:
        reason = "the connection closed"
        try:
            while True:
                header, arrays = read_frame(self._sock, self.max_frame_bytes, self.frame_timeout,
                                            idle=lambda: not self._closed)
                target = self._pending.get(header.get("id"))
                if target is not None:
                    target.put((header, arrays))
        except (ConnectionClosed, OSError, ProtocolError) as exc:
            reason = str(exc)
        self._closed = True
        lost = {"type": "error", "code": "unavailable",
                "message": f"Lost the connection to the backend at {self.host}:{self.port} ({reason}). {HINT}"}
        for target in list(self._pending.values()):
            target.put((lost, {}))

    def _send(self, op: str, fields: dict, arrays: dict | None) -> tuple[int, queue.Queue]:
        if self._closed:
            raise BackendUnavailable("unavailable", f"The connection to {self.host}:{self.port} is closed. {HINT}")
        request_id = next(self._ids)
        frames = self._pending[request_id] = queue.Queue()
        frame = encode_frame({"op": op, "id": request_id, **fields}, arrays)
        try:
            with self._send_lock:
                self._sock.sendall(frame)
        except OSError as exc:
            self._pending.pop(request_id, None)
            raise BackendUnavailable("unavailable", f"Cannot send to the backend at {self.host}:{self.port} "
                                                    f"({exc}). {HINT}") from None
        return request_id, frames

    def request(self, op: str, arrays: dict | None = None, timeout: float | None = None, **fields) -> dict:
        """Send a quick operation and return the server's response fields; raise BackendError."""
        request_id, frames = self._send(op, fields, arrays)
        try:
            header, _ = frames.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            raise BackendTimeout("timeout", f"no answer to {op!r} within {timeout or self.timeout:g} s") from None
        finally:
            self._pending.pop(request_id, None)
        if header.get("type") == "error":
            _raise_for(header)
        return header

    def submit(self, op: str, arrays: dict | None = None, **fields) -> Job:
        """Start a generate/edit/extend/load_checkpoint job and return at once."""
        request_id, frames = self._send(op, fields, arrays)
        job = Job(self, request_id)
        job._frames = frames
        return job

    # ----------------------------------------------------------------------------- operations
    def ping(self) -> float:
        """Round-trip time in seconds."""
        started = time.perf_counter()
        self.request("ping")
        return time.perf_counter() - started

    def info(self) -> dict:
        return self.request("info")

    def status(self, job: str | None = None) -> dict:
        return self.request("status", **({} if job is None else {"job": job}))

    def cancel(self, job: str) -> str:
        return self.request("cancel", job=job)["status"]

    def load_checkpoint(self, path, device: str | None = None, timeout: float = 600.0) -> dict:
        fields = {"checkpoint": str(path), **({} if device is None else {"device": device})}
        request_id, frames = self._send("load_checkpoint", fields, None)
        deadline = time.monotonic() + timeout
        while True:  # first the accepted frame, then the response once the worker loaded it
            try:
                header, _ = frames.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise BackendTimeout("timeout", f"loading {path} took more than {timeout:g} s") from None
            if header.get("type") == "error":
                self._pending.pop(request_id, None)
                _raise_for(header)
            if header.get("type") == "response":
                self._pending.pop(request_id, None)
                return header["model"]

    def shutdown(self) -> None:
        self.request("shutdown")

    def generate(self, prompt=None, *, prompts=None, seconds=None, frames=None, seed=0, seeds=None, variations=1,
                 progress=None, timeout: float | None = None, **sampling) -> list[MotionData]:
        """Generate motions (prompt-major, `variations` each with seeds seed..seed+K-1); sampling:
        guidance, temperature, top_k, top_p, schedule."""
        fields = {"prompts": prompts} if prompts is not None else {"prompt": prompt}
        fields.update(_length(seconds, frames), seed=seed, variations=variations, **sampling)
        if seeds is not None:
            fields["seeds"] = seeds
        return self._wait(self.submit("generate", **fields), timeout, progress)

    def edit(self, positions, start: int, end: int, prompt: str, *, seed=0, blend=8, progress=None,
             timeout: float | None = None, **sampling) -> MotionData:
        """Regenerate frames [start, end) of a 20 fps context given as joint positions (T, 22, 3)."""
        job = self.submit("edit", {"context.positions": (positions, "float32")}, start=start, end=end, prompt=prompt,
                          seed=seed, blend=blend, **sampling)
        return self._wait(job, timeout, progress)[0]

    def extend(self, positions, prompt: str, *, seconds=None, frames=None, seed=0, progress=None,
               timeout: float | None = None, **sampling) -> MotionData:
        """Continue a 20 fps context (joint positions (T, 22, 3)) by `seconds` or `frames`."""
        job = self.submit("extend", {"context.positions": (positions, "float32")}, prompt=prompt, seed=seed,
                          **_length(seconds, frames), **sampling)
        return self._wait(job, timeout, progress)[0]

    def _wait(self, job: Job, timeout, progress) -> list[MotionData]:
        try:
            return job.result(self.timeout if timeout is None else timeout, progress)
        except BackendTimeout:
            if not self._closed and job.id is not None:
                self.cancel(job.id)
            raise

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _length(seconds, frames) -> dict:
    if seconds is not None and frames is not None:
        raise ValueError("give seconds or frames, not both")
    return {"frames": frames} if frames is not None else {"seconds": 4.0 if seconds is None else seconds}
