"""The backend the add-on talks to: a process it started, or a server it connects to (no bpy).

The extension carries the backend's sources in its `backend/` folder. The add-on imports the
stdlib-only client and protocol from there (so the wire format exists once), and starts that very
backend with the user's Python (which has torch) and `PYTHONPATH` pointing at the folder.

Every wait here is bounded and notices a process that died, so Blender never hangs on it. The
add-on calls `ensure_client` from its worker thread, `status` and `stop` from the main thread;
the lock is only held for short steps, never across a wait.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .backend.moscale.serving.client import BackendError, BackendUnavailable, Client

BACKEND_SOURCES = Path(__file__).resolve().parent / "backend"
START_TIMEOUT = 180.0  # model and text encoder load; slow on a busy laptop
STOP_TIMEOUT = 5.0
LOG_TAIL_LINES = 15


@dataclass(frozen=True)
class BackendSettings:
    """What the preferences say, copied on the main thread so worker threads never read bpy."""

    mode: str = "LOCAL"             # LOCAL: the add-on starts its own; CONNECT: a running server
    python: str = ""                # LOCAL: the backend's Python ("" = find_python())
    device: str = "auto"
    checkpoint: str = ""            # "" = the model shipped with the backend
    threads: int = 0                # 0 = torch's default
    connect_with: str = "FILE"      # CONNECT: FILE (a connection file) or ADDRESS (host, port, token)
    connection_file: str = ""       # "" = the newest file of a server started by hand
    host: str = "127.0.0.1"
    port: int = 0
    token: str = ""


def find_python(preference: str = "") -> str:
    """The Python that runs the backend: the preference, else $MOSCALE_PYTHON, else the Python of
    the `moscale` command on PATH (the environment it was installed into has torch), else python3."""
    for candidate in (preference, os.environ.get("MOSCALE_PYTHON", "")):
        if candidate:
            return str(Path(candidate).expanduser())
    command = shutil.which("moscale")
    if command is not None:
        folder = Path(command).resolve().parent  # through a link such as pipx's to the environment's own
        for name in ("python", "python.exe"):
            if (folder / name).is_file():
                return str(folder / name)
    found = shutil.which("python3") or shutil.which("python")
    if found is None:
        raise BackendUnavailable("unavailable", "No Python found to run the backend: set 'Python' in the MoScale "
                                                "preferences to the environment made by the README's set-up.")
    return found


class Backend:
    """One backend connection (and, in LOCAL mode, the process behind it)."""

    def __init__(self, user_dir: Path):
        self.user_dir = Path(user_dir)
        self.process: subprocess.Popen | None = None
        self.client: Client | None = None
        self.model: dict = {}            # the model card from the handshake
        self.queued = 0                  # jobs waiting on the server, as last seen
        self.exit_note = ""              # why the process we started is gone, for the status line
        self._target = None              # what `client` is connected to
        self._started_at = 0.0
        self._log = None
        self._lock = threading.RLock()

    @property
    def connection_path(self) -> Path:
        return self.user_dir / "backend-connection.json"

    @property
    def log_path(self) -> Path:
        return self.user_dir / "backend.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # ----------------------------------------------------------------------------- process
    def start(self, settings: BackendSettings) -> None:
        """Launch the local backend and return at once; `poll_start` tells when it is ready."""
        with self._lock:
            if self.running:
                return
            self._close_client()
            self.user_dir.mkdir(parents=True, exist_ok=True)
            self.connection_path.unlink(missing_ok=True)  # ours, left by a backend that was killed
            command = [find_python(settings.python), "-m", "moscale.serving", "--port", "0",
                       "--connection-file", str(self.connection_path), "--device", settings.device,
                       "--parent-pid", str(os.getpid())]  # it stops itself if Blender is killed
            if settings.checkpoint:
                command += ["--checkpoint", str(Path(settings.checkpoint).expanduser())]
            if settings.threads:
                command += ["--threads", str(settings.threads)]
            environment = dict(os.environ, PYTHONUNBUFFERED="1",
                               PYTHONPATH=os.pathsep.join(filter(None, [str(BACKEND_SOURCES),
                                                                        os.environ.get("PYTHONPATH")])))
            self._log = open(self.log_path, "wb")
            try:
                self.process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                    cwd=self.user_dir, env=environment, creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
            except OSError as exc:
                self._log.close()
                raise BackendUnavailable("unavailable", f"Cannot run the backend's Python {command[0]!r} ({exc}). "
                                                        f"Set 'Python' in the MoScale preferences.") from None
            self._started_at = time.monotonic()
            self.exit_note = ""

    def poll_start(self) -> bool:
        """True once the started backend accepts us; raises if it died or took too long."""
        with self._lock:
            if self.client is not None:
                return True
            if self.process is None:
                raise BackendUnavailable("unavailable", "The backend is not running. Start it from the MoScale panel.")
            code = self.process.poll()
            if code is not None:
                self._forget_process()
                raise BackendUnavailable("unavailable", f"The backend stopped while starting (exit code {code}). "
                                                        f"{self.log_tail()}")
            if self.connection_path.exists():
                self._connect(("file", str(self.connection_path)))
                return True
            if time.monotonic() - self._started_at > START_TIMEOUT:
                self.stop()
                raise BackendUnavailable("unavailable", f"The backend did not start within {START_TIMEOUT:g} s. "
                                                        f"{self.log_tail()}")
            return False

    def wait_started(self) -> Client:
        """Block until the started backend is ready (poll_start's errors; bounded by START_TIMEOUT)."""
        while not self.poll_start():
            time.sleep(0.1)
        return self.client

    def stop(self) -> None:
        """Disconnect; a process we started gets a shutdown request, then terminate, then kill."""
        with self._lock:
            if self.running and self.client is not None:
                try:
                    self.client.request("shutdown", timeout=STOP_TIMEOUT)
                except BackendError:
                    pass
            self._close_client()
            if self.process is not None:
                for signal_it in (None, self.process.terminate, self.process.kill):
                    if signal_it is not None:
                        signal_it()
                    try:
                        self.process.wait(STOP_TIMEOUT)
                        break
                    except subprocess.TimeoutExpired:
                        continue
                self._forget_process()
                self.connection_path.unlink(missing_ok=True)

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return ""
        return f"Last lines of {self.log_path}:\n" + "\n".join(lines)

    # ----------------------------------------------------------------------------- connection
    def ensure_client(self, settings: BackendSettings) -> Client:
        """A connected client for these settings: reuses the connection, starts a LOCAL backend
        that is not running, (re)connects otherwise. Blocking: call it off the main thread."""
        with self._lock:
            if settings.mode == "CONNECT":
                target = (("address", settings.host, settings.port, settings.token) if settings.connect_with == "ADDRESS"
                          else ("file", settings.connection_file))
                if self.client is None or self._target != target:
                    self._connect(target)
                return self.client
            self.check_alive()
            if self._target != ("file", str(self.connection_path)):
                self._close_client()  # connected elsewhere in CONNECT mode before
            if not self.running:
                self.start(settings)
        return self.wait_started()

    def disconnect(self) -> None:
        """Drop the connection (after it broke); the next ensure_client connects again."""
        with self._lock:
            self._close_client()

    def check_alive(self) -> bool:
        """False (and a note for the status line) if the process we started has exited."""
        with self._lock:
            if self.process is None or self.process.poll() is None:
                return True
            self.exit_note = f"The backend exited unexpectedly (exit code {self.process.returncode}); restart it."
            self._close_client()
            self._forget_process()
            return False

    def status(self) -> str:
        """One line for the panel; never waits (not for the socket, not for a worker's connect)."""
        if not self._lock.acquire(blocking=False):
            return "Connecting..."
        try:
            if not self.check_alive():
                return self.exit_note
            if self.client is not None:
                where = "local" if self.process is not None else f"{self.client.host}:{self.client.port}"
                return (f"Connected ({where}): {self.model.get('name', '?')} on {self.model.get('device', '?')}, "
                        f"{self.queued} queued")
            if self.process is not None:
                return f"Starting ({time.monotonic() - self._started_at:.0f} s)"
            return self.exit_note or "Not running"
        finally:
            self._lock.release()

    def _connect(self, target) -> None:
        self._close_client()
        if target[0] == "address":
            _, host, port, token = target
            client = Client(host, port, token)
        else:
            client = Client.from_connection_file(target[1] or None)
        self.client, self._target = client, target
        self.model = dict(client.welcome.get("model", {}))

    def _close_client(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client, self._target = None, None

    def _forget_process(self) -> None:
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

