"""The add-on's bpy-free backend management and generate worker (addon/backend_process.py,
addon/generation.py) against the backend they start, imported from the built extension as Blender
would import it (they reach the wire format through the `backend/` folder the zip carries)."""

import importlib
import os
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import build  # noqa: E402

PACKAGE = "moscale_extension"  # any name: Blender's is bl_ext.user_default.moscale


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    """The modules of the extension unpacked from its zip: backend_process, generation, client."""
    folder = tmp_path_factory.mktemp("extension")
    with zipfile.ZipFile(build.build(folder / "dist")) as archive:
        archive.extractall(folder / PACKAGE)
    sys.path.insert(0, str(folder))
    yield SimpleNamespace(folder=folder / PACKAGE, **{
        name.rpartition(".")[2]: importlib.import_module(f"{PACKAGE}.{name}")
        for name in ("backend_process", "generation", "backend.moscale.serving.client")})
    sys.path.remove(str(folder))


def local_settings(addon):
    return addon.backend_process.BackendSettings(python=sys.executable, device="cpu", threads=1)


@pytest.fixture(scope="module")
def local(addon, tmp_path_factory):
    """The backend as the add-on runs it (LOCAL mode), started once for the module."""
    backend = addon.backend_process.Backend(tmp_path_factory.mktemp("user"))
    backend.ensure_client(local_settings(addon))
    yield backend
    backend.stop()


def run(addon, backend, settings=None, cancel=False, **request):
    """A generate task run to its end, as the operator runs it headless."""
    fields = {"prompt": "a person walks forward", "seconds": 2.0, "seed": 1, "guidance": 5.0, **request}
    task = addon.generation.GenerationTask(backend, settings or local_settings(addon),
                                           addon.generation.GenerateRequest(**fields)).start()
    if cancel:
        task.cancel()
    task.wait()
    return task


def test_started_with_blenders_pid_and_the_bundled_sources(addon, local):
    arguments = local.process.args
    assert arguments[arguments.index("--parent-pid") + 1] == str(os.getpid())
    assert Path(local.model["checkpoint"]).is_relative_to(addon.folder / "backend" / "moscale")
    assert local.connection_path.exists() and "Connected (local)" in local.status()


def test_generate_streams_progress_and_gives_the_motion(addon, local):
    task = run(addon, local)
    assert task.done and task.error is None and not task.cancelled
    assert len(task.motions) == 1 and task.motions[0].frames == 40 and len(task.motions[0].joint_names) == 22
    assert task.stage not in ("Connecting to the backend", "Queued") and task.fraction > 0


def test_cancel_ends_the_job_on_the_backend(addon, local):
    task = run(addon, local, cancel=True, seconds=300.0)
    assert task.cancelled and isinstance(task.error, addon.client.JobCancelled) and task.motions is None
    assert local.client.status()["stats"]["open_jobs"] == 0


def test_a_refused_request_is_the_tasks_error(addon, local):
    task = run(addon, local, prompt="")
    assert task.error.code == "invalid_request" and task.motions is None
    assert "Connected (local)" in local.status()  # the connection stays usable


def test_no_backend_is_an_error_not_a_hang(addon, tmp_path):
    settings = addon.backend_process.BackendSettings(mode="CONNECT", connection_file=str(tmp_path / "none.json"))
    task = run(addon, addon.backend_process.Backend(tmp_path), settings)
    assert isinstance(task.error, addon.client.BackendUnavailable) and "none.json" in task.error.message


def test_a_killed_backend_is_noticed_and_can_be_restarted(addon, tmp_path):
    backend = addon.backend_process.Backend(tmp_path)
    try:
        backend.ensure_client(local_settings(addon))
        backend.process.kill()
        backend.process.wait(timeout=30)
        assert "exited unexpectedly" in backend.status() and "restart it" in backend.status()
        assert run(addon, backend).motions is not None  # the next generate starts it again
    finally:
        backend.stop()
    assert not backend.running and not backend.connection_path.exists()


def test_the_python_of_the_moscale_command_is_found(addon, monkeypatch):
    """An empty Python preference finds the environment whose `moscale` is on PATH (an activated .venv)."""
    environment = Path(sys.executable).parent.resolve()
    assert (environment / "moscale").is_file()
    monkeypatch.delenv("MOSCALE_PYTHON", raising=False)
    monkeypatch.setenv("PATH", str(environment))
    assert addon.backend_process.find_python("") == str(environment / "python")
    assert addon.backend_process.find_python("~/elsewhere/python") == str(Path.home() / "elsewhere" / "python")
