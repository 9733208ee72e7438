"""`moscale serve`: the authenticated loopback server in front of one model.

One thread per connection reads frames and answers quick operations itself; model work goes
through the shared JobQueue to a single worker thread, the only thread that calls torch. Any bad
input is answered with a typed error (or, when the byte stream is out of sync, by closing that
connection); nothing a client sends can stop the server except an authenticated `shutdown`.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from . import connection_file
from .jobs import Job, JobQueue
from .protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    ConnectionClosed,
    ProtocolError,
    encode_frame,
    error_header,
    read_frame,
)

log = logging.getLogger("moscale.serving")

QUICK_OPERATIONS = ("ping", "info", "status", "cancel", "shutdown")
JOB_OPERATIONS = ("generate", "edit", "extend", "load_checkpoint")
OPERATIONS = QUICK_OPERATIONS + JOB_OPERATIONS


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 0
    allow_remote: bool = False
    connection_file: Path | None = None  # default: connection_file.default_path()
    checkpoint: Path | None = None  # default: the shipped model
    device: str = "auto"
    threads: int | None = None
    text_encoder_path: Path | None = None
    max_frame_bytes: int = MAX_FRAME_BYTES
    read_timeout: float = 10.0  # a started frame must arrive within this; also the hello
    max_connections: int = 64
    max_queued: int = 256
    max_batch: int = 32  # motions per merged forward batch
    batch_wait: float = 0.005  # seconds the worker waits for more compatible jobs while other clients are connected


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Connection:
    """One client socket; `send` may be called from the worker while the reader thread reads."""

    def __init__(self, sock: socket.socket, address):
        self.sock, self.address = sock, address
        self._jobs: set[Job] = set()
        self._jobs_lock = threading.Lock()  # the reader adds jobs, the worker forgets them
        self._lock = threading.Lock()
        self.closed = False

    def send(self, header: dict, arrays: dict | None = None) -> bool:
        frame = encode_frame(header, arrays)
        with self._lock:
            if self.closed:
                return False
            try:
                self.sock.sendall(frame)
                return True
            except OSError as exc:
                log.info("dropping connection %s: send failed (%s)", self.address, exc)
                self.close()
                return False

    def add(self, job: Job) -> None:
        with self._jobs_lock:
            self._jobs.add(job)

    def forget(self, job: Job) -> None:
        with self._jobs_lock:
            self._jobs.discard(job)

    def open_jobs(self) -> list[Job]:
        with self._jobs_lock:
            return list(self._jobs)

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # also wakes the reader thread
        except OSError:
            pass


class Server:
    def __init__(self, config: ServerConfig):
        self.config = config
        self.token = secrets.token_urlsafe(32)
        self.queue = JobQueue(config.max_queued)
        self.stopping = threading.Event()
        self.connections: set[Connection] = set()
        self._lock = threading.Lock()
        self.engine = None
        self.listener: socket.socket | None = None
        self.connection_path: Path | None = None
        self._worker = threading.Thread(target=self._work, name="moscale-worker", daemon=True)

    # ----------------------------------------------------------------------------- life cycle
    def start(self) -> Path:
        """Check the connection file can be written, load the model, bind, write the file."""
        config = self.config
        if not is_loopback(config.host) and not config.allow_remote:
            raise ValueError(f"refusing to listen on {config.host}, which is not a loopback address; pass "
                             f"--allow-remote to accept connections from other machines (the token is still required)")
        path = connection_file.check_writable(config.connection_file or connection_file.default_path(),
                                              create_parent=config.connection_file is None)
        from ..checkpoint import default_checkpoint_dir
        from .engine import Engine

        if config.threads:
            import torch

            torch.set_num_threads(config.threads)
        self.engine = Engine(config.checkpoint or default_checkpoint_dir(), config.device, config.text_encoder_path)
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        if os.name != "nt":  # on Windows SO_REUSEADDR would let another process steal the port
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((config.host, config.port))
        self.listener.listen(64)
        self.listener.settimeout(0.2)  # the accept loop notices `stopping` this often
        host, port = self.listener.getsockname()[:2]
        self.connection_path = connection_file.write(path, {
            "host": host, "port": port, "token": self.token, "pid": os.getpid(),
            "protocol_version": PROTOCOL_VERSION, "model": self.engine.summary()})
        self._worker.start()
        log.info("serving %s on %s:%d (connection file %s)", self.engine.model.name, host, port, self.connection_path)
        return self.connection_path

    def serve(self) -> None:
        """Accept connections until stop() (a signal or an authenticated shutdown), then clean up."""
        try:
            while not self.stopping.is_set():
                try:
                    sock, address = self.listener.accept()
                except TimeoutError:
                    continue
                except OSError as exc:
                    log.warning("accept failed: %s", exc)
                    continue
                threading.Thread(target=self._serve_connection, args=(sock, address), daemon=True,
                                 name=f"moscale-conn-{address[1]}").start()
        finally:
            self._shutdown()

    def stop(self) -> None:
        self.stopping.set()

    def _shutdown(self) -> None:
        log.info("shutting down")
        self.listener.close()
        for job in self.queue.close():
            job.fail("shutting_down", "the server is shutting down; the job was not started", status="cancelled")
        with self._lock:
            connections = list(self.connections)
        for connection in connections:
            for job in connection.open_jobs():
                job.cancel_requested.set()
        self._worker.join(timeout=10)
        for connection in connections:
            connection.close()
        if self.connection_path is not None:
            connection_file.remove(self.connection_path, self.token)
        log.info("stopped")

    # ----------------------------------------------------------------------------- worker
    def _work(self) -> None:
        from ..generation.scales import GenerationCancelled

        while True:
            batch = self.queue.take(self.config.max_batch, self.config.batch_wait, self._others_connected)
            if batch is None:
                return
            try:
                if batch[0].op == "load_checkpoint":
                    self._load(batch[0])
                else:
                    self.engine.run(batch)
            except GenerationCancelled:  # raised once every job of the batch was cancelled and answered
                pass
            except ValueError as exc:  # limits only the model can check (e.g. an edit range)
                _fail_unanswered(batch, "invalid_request", str(exc))
            except Exception as exc:
                log.exception("job %s failed", ", ".join(job.id for job in batch))
                _fail_unanswered(batch, "internal", f"{exc.__class__.__name__}: {exc}")
            for job in batch:
                self.queue.finished(job)

    def _others_connected(self, job: Job) -> bool:
        """Whether a client other than the job's own is connected, so a request to batch with may come."""
        with self._lock:
            return any(connection is not job.connection for connection in self.connections)

    def _load(self, job: Job) -> None:
        from .engine import Engine

        self.engine = Engine(job.params["checkpoint"], job.params["device"] or self.engine.device,
                             self.config.text_encoder_path)
        job.status = "done"
        job.send({"type": "response", "model": self.engine.summary()})
        log.info("loaded %s", job.params["checkpoint"])

    # ----------------------------------------------------------------------------- connections
    def _serve_connection(self, sock: socket.socket, address) -> None:
        sock.settimeout(self.config.read_timeout)
        connection = Connection(sock, address)
        with self._lock:
            full = len(self.connections) >= self.config.max_connections
            if not full:
                self.connections.add(connection)
        try:
            if full:
                connection.send(error_header("busy", f"the server already has {self.config.max_connections} "
                                                     f"connections; close some and retry"))
            elif self._authenticate(connection):
                self._read_requests(connection)
        except ConnectionClosed:
            pass
        except ProtocolError as exc:  # fatal: timeout, frame too large, broken framing
            log.info("closing %s: %s", address, exc)
            connection.send(error_header(exc.code, exc.message))
        except OSError as exc:
            log.info("connection %s failed: %s", address, exc)
        except Exception:
            log.exception("unexpected error on connection %s", address)
        finally:
            for job in connection.open_jobs():
                self.queue.cancel(job, "the client disconnected")
            connection.close()
            sock.close()
            with self._lock:
                self.connections.discard(connection)

    def _authenticate(self, connection: Connection) -> bool:
        """The first frame must be a valid `hello`; anything else gets one error and the door."""
        try:
            header, _ = read_frame(connection.sock, self.config.max_frame_bytes, self.config.read_timeout)
        except ProtocolError as exc:
            connection.send(error_header(exc.code, exc.message))
            return False
        request_id = header.get("id") if isinstance(header.get("id"), (int, str)) else None
        token = header.get("token")
        if header.get("op") != "hello":
            code, message = "unauthenticated", "the first message must be `hello` with the token"
        elif not isinstance(token, str) or not hmac.compare_digest(token.encode("utf-8", "replace"),
                                                                   self.token.encode()):
            code, message = "unauthenticated", None
        elif header.get("protocol_version") != PROTOCOL_VERSION:
            code, message = "unsupported_version", (f"the server speaks protocol version {PROTOCOL_VERSION}, the "
                                                    f"client {header.get('protocol_version')!r}; update the older side")
        else:
            connection.send({"type": "welcome", "id": request_id, **self._welcome()})
            return True
        log.warning("refused connection from %s: %s", connection.address, code)
        connection.send(error_header(code, message, request_id))
        return False

    def _welcome(self) -> dict:
        return {"protocol_version": PROTOCOL_VERSION, "server": f"moscale {_version()}", "pid": os.getpid(),
                "model": self.engine.summary(), "skeleton": self.engine.skeleton(), "capabilities": list(OPERATIONS),
                "limits": self._limits()}

    def _limits(self) -> dict:
        return {**self.engine.limits(), "max_frame_bytes": self.config.max_frame_bytes,
                "read_timeout": self.config.read_timeout, "max_batch": self.config.max_batch,
                "batch_wait": self.config.batch_wait, "max_queued": self.config.max_queued}

    def _read_requests(self, connection: Connection) -> None:
        def idle() -> bool:
            return not (self.stopping.is_set() or connection.closed)

        while idle():
            try:
                header, arrays = read_frame(connection.sock, self.config.max_frame_bytes,
                                            self.config.read_timeout, idle=idle)
            except ProtocolError as exc:
                if exc.fatal:
                    raise
                connection.send(error_header(exc.code, exc.message))
                continue
            request_id = header.get("id")
            try:
                if not (request_id is None or isinstance(request_id, (str, int))) or isinstance(request_id, bool):
                    request_id = None
                    raise ProtocolError("invalid_request", "`id` must be a string or an integer")
                reply = self._dispatch(connection, header, arrays)
                if reply is not None:
                    connection.send({"type": "response", "id": request_id, **reply})
            except ProtocolError as exc:
                connection.send(error_header(exc.code, exc.message, request_id))
            except Exception as exc:
                log.exception("request %r failed", header.get("op"))
                connection.send(error_header("internal", f"{exc.__class__.__name__}: {exc}", request_id))

    def _dispatch(self, connection: Connection, header: dict, arrays: dict) -> dict | None:
        op = header.get("op")
        if not isinstance(op, str):
            raise ProtocolError("invalid_request", "every request needs an `op` string")
        if op not in OPERATIONS:
            raise ProtocolError("unknown_operation", f"unknown operation {op[:64]!r}; the server knows "
                                                     f"{', '.join(OPERATIONS)}")
        if op == "ping":
            return {"pong": True}
        if op == "info":
            return {**self._welcome(), "stats": self.stats()}
        if op == "status":
            if "job" not in header:
                return {"stats": self.stats()}
            return self.queue.get(header["job"]).describe()
        if op == "cancel":
            job = self.queue.get(header.get("job"))
            return {"job": job.id, "status": self.queue.cancel(job)}
        if op == "shutdown":
            log.info("shutdown requested by %s", connection.address)
            self.stop()
            return {"stopping": True}
        job = self._job(connection, op, header, arrays)
        connection.add(job)
        self.queue.submit(job)
        return {"type": "accepted", "job": job.id, "position": self.queue.position(job)}

    def _job(self, connection: Connection, op: str, header: dict, arrays: dict) -> Job:
        engine = self.engine
        request_id = header.get("id")
        if op == "generate":
            params = engine.parse_generate(header)
            return Job(op, params, connection, request_id, size=params["size"], batch_key=params["key"])
        if op == "edit":
            return Job(op, engine.parse_edit(header, arrays), connection, request_id)
        if op == "extend":
            return Job(op, engine.parse_extend(header, arrays), connection, request_id)
        checkpoint, device = header.get("checkpoint"), header.get("device")
        if not isinstance(checkpoint, str) or not (Path(checkpoint).expanduser() / "config.json").is_file():
            raise ProtocolError("invalid_request", "`checkpoint` must name a checkpoint directory (with config.json) "
                                                   "on the server's machine")
        if device not in (None, "auto", "cpu", "cuda", "mps"):
            raise ProtocolError("invalid_request", "`device` must be auto, cpu, cuda or mps")
        return Job(op, {"checkpoint": Path(checkpoint).expanduser(), "device": device}, connection, request_id)

    def stats(self) -> dict:
        with self._lock:
            connections = len(self.connections)
        return {**self.queue.snapshot(), "connections": connections, "threads": threading.active_count()}


def watch_parent(pid: int, server: Server, interval: float = 1.0) -> threading.Thread:
    """Stop `server` as SIGTERM does once process `pid` has exited: a Blender that is killed sends
    no `shutdown`, and the backend it started must not outlive it."""
    def watch() -> None:
        while not server.stopping.wait(interval):
            if not process_alive(pid):
                log.info("the parent process %d has exited", pid)
                server.stop()

    thread = threading.Thread(target=watch, name="moscale-parent-watch", daemon=True)
    thread.start()
    return thread


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists (os.kill(pid, 0) would terminate it on Windows, hence the API call)."""
    if os.name == "nt":
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    return True


def _windows_process_alive(pid: int) -> bool:
    import ctypes
    from ctypes import wintypes

    synchronize, wait_timeout, error_access_denied = 0x00100000, 0x102, 5
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.WaitForSingleObject.argtypes = (wintypes.HANDLE, wintypes.DWORD)
    kernel32.WaitForSingleObject.restype = wintypes.DWORD
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    handle = kernel32.OpenProcess(synchronize, False, pid)
    if not handle:
        return ctypes.get_last_error() == error_access_denied
    try:
        return kernel32.WaitForSingleObject(handle, 0) == wait_timeout  # a process's handle is signalled at exit
    finally:
        kernel32.CloseHandle(handle)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a process id")
    return value


def _fail_unanswered(batch: list[Job], code: str, message: str) -> None:
    """Fail the jobs of a batch that have no final frame yet (cancelled ones were answered when they left)."""
    for job in batch:
        if job.status == "running":
            job.fail(code, message)


def _version() -> str:
    from .. import __version__

    return __version__


# ----------------------------------------------------------------------------- command line
def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `moscale serve` (shared with `python -m moscale.serving`)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one; see the connection file)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (clients still need the token)")
    parser.add_argument("--connection-file", type=Path,
                        help=f"where to write host, port and token (default: {connection_file.runtime_dir()}"
                             f"{os.sep}server-PID.json)")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint directory (default: the shipped model)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument("--text-encoder-path", type=Path, help="local text-encoder directory (T5 for official weights)")
    parser.add_argument("--read-timeout", type=float, default=10.0,
                        help="seconds within which a started message (and the hello) must arrive")
    parser.add_argument("--max-frame-mb", type=float, default=MAX_FRAME_BYTES / 2 ** 20, help="largest message, MiB")
    parser.add_argument("--max-batch", type=int, default=32, help="motions per merged forward batch")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0,
                        help="how long the worker waits for more compatible requests to batch "
                             "(only while another client is connected)")
    parser.add_argument("--parent-pid", type=_positive_int,
                        help="shut down (as on SIGTERM) once this process has exited (the Blender add-on passes its "
                             "own PID)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-file", type=Path, help="also write the log to this file")


def run_serve(args: argparse.Namespace) -> int:
    """Run `moscale serve` until SIGINT/SIGTERM, an authenticated shutdown or the end of --parent-pid;
    0 on a clean stop."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if args.log_file:
        handlers.append(logging.FileHandler(args.log_file))
    logging.basicConfig(level=args.log_level.upper(), handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(host=args.host, port=args.port, allow_remote=args.allow_remote,
                          connection_file=args.connection_file, checkpoint=args.checkpoint, device=args.device,
                          threads=args.threads, text_encoder_path=args.text_encoder_path,
                          max_frame_bytes=int(args.max_frame_mb * 2 ** 20), read_timeout=args.read_timeout,
                          max_batch=args.max_batch, batch_wait=args.batch_wait_ms / 1000)
    server = Server(config)
    try:
        server.start()
    except (ValueError, OSError, RuntimeError) as exc:  # ConnectionFileError is a RuntimeError
        log.error("cannot start: %s", exc)
        return 2
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), lambda number, frame: server.stop())
    if args.parent_pid:
        watch_parent(args.parent_pid, server)
    print(f"moscale serve: listening; connection file {server.connection_path}", file=sys.stderr, flush=True)
    server.serve()
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="moscale serve", description="serve a MoScale model over a local socket")
    add_serve_arguments(parser)
    return run_serve(parser.parse_args(argv))

