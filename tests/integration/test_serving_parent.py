"""`moscale serve --parent-pid`: a backend whose starter is killed (no `shutdown` sent) stops by itself."""

import subprocess
import sys

from serving_process import start_server


def test_server_stops_when_its_parent_process_is_killed(tmp_path):
    stand_in = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    server = start_server(tmp_path, "--parent-pid", str(stand_in.pid))
    try:
        assert server.process.poll() is None
        stand_in.kill()
        stand_in.wait(timeout=10)  # reaped: a zombie would still count as alive
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
        stand_in.stdin.close()
    assert not server.connection_file.exists()
    assert f"the parent process {stand_in.pid} has exited" in server.log.read_text()
