"""Start real `moscale serve` processes on loopback with a private connection file, and talk to them."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from moscale.serving.protocol import PROTOCOL_VERSION, encode_frame, read_frame

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


def launch(folder: Path, *options: str, env: dict | None = None) -> subprocess.Popen:
    log = open(folder / "server.log", "wb")
    command = [sys.executable, "-m", "moscale.serving", "--port", "0", "--threads", "1", *options]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))


def start_server(folder: Path, *options: str, env: dict | None = None) -> ServerProcess:
    """Start a server (with `env` added to its environment) and wait (deadline, not a fixed sleep)
    for its connection file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "connection.json"
    process = launch(folder, "--connection-file", str(path), *options, env=env)
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


def raw_connect(server: ServerProcess, token=None, hello=True) -> socket.socket:
    """A socket to the server, past the handshake unless hello=False (for sending hand-made bytes)."""
    sock = socket.create_connection(server.address, timeout=5)
    if hello:
        sock.sendall(encode_frame({"op": "hello", "id": 0, "protocol_version": PROTOCOL_VERSION,
                                   "token": server.info["token"] if token is None else token}))
        assert read_frame(sock)[0]["type"] == "welcome"
    return sock


def reply(sock) -> dict:
    return read_frame(sock, frame_timeout=5.0)[0]


def wait_for(check, timeout=10.0):
    """Poll `check` until it returns something true, for state the server updates on its own threads."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def settled(client, connections: int = 1, threads: int | None = None, timeout: float = 20.0) -> dict:
    """The server's stats once it has `connections` connections, no open job and (if given) at most
    `threads` threads; a closed connection's thread ends shortly after the close."""
    def check():
        stats = client.status()["stats"]
        return stats if stats["connections"] == connections and stats["open_jobs"] == 0 \
            and (threads is None or stats["threads"] <= threads) else None
    return wait_for(check, timeout)
