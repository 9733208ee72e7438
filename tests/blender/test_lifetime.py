"""A backend the add-on started ends with its Blender: on a normal quit (the add-on stops it) and
when Blender is killed (the backend watches the PID the add-on gave it); Restart replaces it."""

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import bpy
import pytest

SCRIPT = Path(__file__).with_name("blender_with_backend.py")


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child to end (a pidfd becomes readable when it does)."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([descriptor], [], [], timeout)[0])
    finally:
        os.close(descriptor)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="waits with a Linux pidfd")
@pytest.mark.parametrize("ending", ["quit", "killed"])
def test_the_backend_ends_with_blender(ending, tmp_path):
    blender = subprocess.Popen([sys.executable, str(SCRIPT)], cwd=SCRIPT.parent, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=dict(os.environ, TMPDIR=str(tmp_path)))
    try:
        started = next(json.loads(line) for line in blender.stdout if line.startswith("{"))
        assert not wait_exit(started["pid"], 0)
        if ending == "quit":
            blender.stdin.close()
        else:
            blender.send_signal(signal.SIGKILL)  # no atexit, no shutdown request
        blender.wait(timeout=60)
        if ending == "quit":  # the add-on stopped it before Blender's exit was over
            assert wait_exit(started["pid"], 0), "the add-on did not stop its backend"
        else:  # it noticed within its watch interval and shut down as on SIGTERM
            assert wait_exit(started["pid"], 30), "the backend outlived its Blender"
            assert not Path(started["connection_file"]).exists()
    finally:
        blender.kill()  # nothing to do once it has ended
        blender.wait()


def test_restart_replaces_the_backend(backend):
    """The status line's offer after a crash, or after changing the backend's preferences."""
    old = backend.process
    assert bpy.ops.moscale.backend_restart() == {'FINISHED'}
    assert old.poll() is not None and backend.process.pid != old.pid
    assert "Connected (local)" in backend.status()
