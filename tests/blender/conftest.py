"""Real Blender (the bpy 5.0.1 wheel, or 4.2 for the legacy action API) with a private user folder,
the extension built by build.py installed into it, and one backend process (started by the add-on)
shared by the whole session."""

import importlib
import os
import shutil
import sys

from blender_env import MODULE, ROOT, USER_RESOURCES, install_extension

import bpy  # after blender_env, which sets the user folders
import pytest

BACKEND_PYTHON = ROOT / ".venv" / "bin" / "python"


def pytest_sessionfinish(session, exitstatus):
    session.config.moscale_exit_status = int(exitstatus)


def pytest_unconfigure(config):
    """bpy 4.2 as a module crashes in its C exit handlers once any add-on was enabled (it frees UI
    classes after Python is gone; enabling Rigify alone does it; 5.0.1 exits cleanly). Leave before
    those handlers run, with pytest's exit status, once pytest has reported."""
    if bpy.app.version < (4, 3, 0) and hasattr(config, "moscale_exit_status"):
        shutil.rmtree(USER_RESOURCES, ignore_errors=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.moscale_exit_status)


def preferences():
    return bpy.context.preferences.addons[MODULE].preferences


def session():
    """The add-on's session module (backend, last motion) of the installed extension."""
    return sys.modules[MODULE + ".blender.session"]


@pytest.fixture(scope="session")
def addon(tmp_path_factory):
    install_extension(tmp_path_factory.mktemp("dist"))
    yield importlib.import_module(MODULE)
    bpy.ops.preferences.addon_disable(module=MODULE)


def action_fcurves(obj):
    """The F-curves of the object's assigned action, on either action API."""
    animation = obj.animation_data
    if hasattr(animation, "action_slot"):
        from bpy_extras import anim_utils

        return anim_utils.action_get_channelbag_for_slot(animation.action, animation.action_slot).fcurves
    return animation.action.fcurves


def use_local_backend() -> None:
    prefs = preferences()
    prefs.backend_mode, prefs.python, prefs.device, prefs.threads = 'LOCAL', str(BACKEND_PYTHON), 'cpu', 1
    prefs.allow_rotation_mode_change = True


@pytest.fixture(scope="session")
def backend_session(addon):
    use_local_backend()
    assert bpy.ops.moscale.backend_start() == {'FINISHED'}
    yield session()
    bpy.ops.moscale.backend_stop()


@pytest.fixture
def backend(backend_session):
    """The shared backend, started again if a test killed it, with the preferences reset."""
    use_local_backend()
    if not backend_session.get_backend().check_alive() or backend_session.backend.client is None:
        assert bpy.ops.moscale.backend_start() == {'FINISHED'}
    return backend_session.get_backend()


@pytest.fixture
def empty_scene(addon):
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene


@pytest.fixture
def rig(backend, empty_scene):
    """An armature of ours with a hand-made (empty) action assigned: what a failed generate must keep."""
    assert bpy.ops.moscale.armature_add() == {'FINISHED'}
    obj = bpy.context.active_object
    obj.animation_data_create().action = bpy.data.actions.new("hand keyed")
    return obj


@pytest.fixture
def metarig(empty_scene):
    assert bpy.ops.preferences.addon_enable(module="rigify") == {'FINISHED'}
    assert bpy.ops.object.armature_human_metarig_add() == {'FINISHED'}
    return bpy.context.active_object
