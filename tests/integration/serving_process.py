"""Start real `moscale serve` processes on loopback with a private connection file."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

START_DEADLINE = 90.0  # model and text-encoder load on a busy 2-core machine


@dataclass
class ServerProcess:
    process: subprocess.Popen
    connection_file: Path
    log: Path
    info: dict

    @property
    def address(self):
        return self.info["host"], self.info["port"]

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def launch(folder: Path, *options: str) -> subprocess.Popen:
    log = open(folder / "server.log", "wb")
    command = [sys.executable, "-m", "moscale.serving", "--port", "0", "--threads", "1", *options]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def start_server(folder: Path, *options: str) -> ServerProcess:
    """Start a server and wait (deadline, not a fixed sleep) for its connection file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "connection.json"
    process = launch(folder, "--connection-file", str(path), *options)
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if path.exists():
            try:
                return ServerProcess(process, path, folder / "server.log", json.loads(path.read_text()))
            except ValueError:
                pass  # never partial (it is linked into place), but be safe
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"server did not start:\n{(folder / 'server.log').read_text()[-3000:]}")
