"""Failing generates: a clear error report (Blender turns an operator's ERROR report into a
RuntimeError for the calling script), no exception of ours, and the scene as it was."""

import sys
import threading
import time

import bpy
import pytest
from conftest import MODULE, preferences


def state(obj) -> tuple:
    animation = obj.animation_data
    return (sorted(action.name for action in bpy.data.actions), animation.action.name, len(animation.nla_tracks),
            sorted(bone.rotation_mode for bone in obj.pose.bones))


def assert_refused(obj, match: str, **settings) -> None:
    before = state(obj)
    for key, value in settings.items():
        setattr(bpy.context.scene.moscale, key, value)
    with pytest.raises(RuntimeError, match=match):
        bpy.ops.moscale.generate()
    assert state(obj) == before
    assert sys.modules[MODULE + ".blender.session"].task is None  # the next generate may run


def test_backend_not_running(rig, tmp_path):
    prefs = preferences()
    prefs.backend_mode, prefs.connect_with, prefs.connection_file = 'CONNECT', 'FILE', str(tmp_path / "none.json")
    assert_refused(rig, "no connection file at .*none.json: is the server running")


def test_wrong_token(rig, backend):
    prefs = preferences()
    prefs.backend_mode, prefs.connect_with = 'CONNECT', 'ADDRESS'
    prefs.host, prefs.port, prefs.token = backend.client.host, backend.client.port, "not the token"
    assert_refused(rig, "Wrong or missing token")


def test_armature_without_matching_bones(rig):
    assert bpy.ops.object.armature_add() == {'FINISHED'}  # one bone called "Bone"
    other = bpy.context.active_object
    other.animation_data_create().action = bpy.data.actions.new("other keys")
    assert_refused(other, "Rig 'Armature' has no bones for: pelvis, left_hip")


def test_euler_bones_without_consent(backend, metarig):
    metarig.animation_data_create().action = bpy.data.actions.new("hand keyed")
    preferences().allow_rotation_mode_change = False
    assert_refused(metarig, "do not use quaternion rotation")


def test_zero_duration(rig):
    assert_refused(rig, "duration is 0 s", seconds=0.0)


def test_backend_killed_mid_job(rig, backend):
    process = backend.process
    client_module = sys.modules[MODULE + ".backend.moscale.serving.client"]
    watcher = client_module.Client.from_connection_file(backend.connection_path)

    def kill_once_running():
        deadline = time.monotonic() + 60
        while watcher.status()["stats"]["open_jobs"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.kill()

    killer = threading.Thread(target=kill_once_running)
    killer.start()
    try:
        assert_refused(rig, "Lost the connection to the backend", seconds=300.0)
    finally:
        killer.join()
        watcher.close()
    assert "exited unexpectedly" in backend.status()
