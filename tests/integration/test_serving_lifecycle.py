"""Start-up refusals, the private connection file and graceful shutdown of a real server."""

import os
import stat
import subprocess
import sys

import pytest
from moscale.serving.client import BackendError, Client
from serving_process import start_server


def refused(tmp_path, *options) -> str:
    result = subprocess.run([sys.executable, "-m", "moscale.serving", "--port", "0", *options],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    return result.stderr


def test_refuses_an_existing_connection_file(tmp_path):
    existing = tmp_path / "c.json"
    existing.write_text("{}")
    assert "already exists" in refused(tmp_path, "--connection-file", str(existing))
    assert existing.read_text() == "{}"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_refuses_a_folder_other_users_can_write(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert "writable by other users" in refused(tmp_path, "--connection-file", str(shared / "c.json"))
    assert not (shared / "c.json").exists()


def test_refuses_a_missing_folder_and_a_remote_host_without_the_flag(tmp_path):
    assert "does not exist" in refused(tmp_path, "--connection-file", str(tmp_path / "no" / "c.json"))
    assert "--allow-remote" in refused(tmp_path, "--host", "0.0.0.0", "--connection-file", str(tmp_path / "c.json"))


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_private_file_and_sigterm_cancels_jobs_and_removes_it(tmp_path):
    server = start_server(tmp_path, "--log-file", str(tmp_path / "file.log"))
    info = os.stat(server.connection_file)
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.getuid()
    assert server.info["host"] == "127.0.0.1" and server.info["pid"] == server.process.pid
    assert server.info["model"]["name"] == "moscale-default"
    client = Client.from_connection_file(server.connection_file)
    job = client.submit("generate", prompt="a long walk", frames=12_000, schedule=[1, 1, 1, 1])
    next(job.events(timeout=30))
    assert server.stop() == 0
    with pytest.raises(BackendError):  # JobCancelled, or the connection closing first
        job.result(timeout=10)
    assert not server.connection_file.exists()
    assert "shutting down" in (tmp_path / "file.log").read_text()


def test_authenticated_shutdown_request(tmp_path):
    server = start_server(tmp_path)
    with Client.from_connection_file(server.connection_file) as client:
        client.shutdown()
    assert server.process.wait(timeout=30) == 0
    assert not server.connection_file.exists()
