"""Takes headless: K variations on K NLA tracks, one playing; select; keep (one undo step)."""

import bpy
import numpy as np
import pytest
from conftest import action_fcurves
from test_edit import posed_heads


@pytest.fixture
def armature_with_takes(backend, empty_scene):
    """Our armature with a hand-keyed action, then three takes generated over it."""
    scene = empty_scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    assert bpy.ops.moscale.armature_add() == {'FINISHED'}
    obj = bpy.context.active_object
    obj.pose.bones["pelvis"].keyframe_insert("location", frame=1)
    keyed = obj.animation_data.action
    settings = scene.moscale
    settings.prompt, settings.seconds, settings.seed, settings.takes = "a person waves", 3.0, 7, 3
    settings.use_current_frame, settings.start_frame = False, 1
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    return obj, keyed.name


def take_tracks(obj):
    return [track for track in obj.animation_data.nla_tracks if track.name.startswith("MoScale take ")]


def test_takes_are_actions_on_tracks_with_one_playing(armature_with_takes):
    obj, keyed = armature_with_takes
    tracks = take_tracks(obj)
    assert [track.name for track in tracks] == ["MoScale take 1", "MoScale take 2", "MoScale take 3"]
    assert [track.mute for track in tracks] == [False, True, True]
    assert obj.animation_data.action is None
    actions = [track.strips[0].action for track in tracks]
    assert len(set(actions)) == 3 and all(a["moscale_prompt"] == "a person waves" for a in actions)
    stash = [track for track in obj.animation_data.nla_tracks if track.name == "[Action Stash]"]
    assert stash and stash[0].strips[0].action.name == keyed
    first = posed_heads(obj, [30])

    assert bpy.ops.moscale.select_take(take=2) == {'FINISHED'}
    assert [track.mute for track in take_tracks(obj)] == [True, False, True]
    assert np.abs(posed_heads(obj, [30]) - first).max() > 0.01  # take 2 plays, and it is another motion


def test_keep_take_makes_it_the_action_and_removes_the_others_in_one_undo_step(armature_with_takes):
    obj, keyed = armature_with_takes
    name = obj.name
    bpy.ops.moscale.select_take(take=2)
    chosen = take_tracks(obj)[1].strips[0].action.name
    others = [track.strips[0].action.name for track in take_tracks(obj)[::2]]
    bpy.ops.ed.undo_push(message="before keep")
    assert bpy.ops.moscale.keep_take() == {'FINISHED'}
    assert obj.animation_data.action.name == chosen and not take_tracks(obj)
    assert all(other not in bpy.data.actions for other in others) and keyed in bpy.data.actions
    assert len(action_fcurves(obj)) > 0

    bpy.ops.ed.undo_push(message="MoScale keep take")
    assert bpy.ops.ed.undo() == {'FINISHED'}
    restored = bpy.data.objects[name]
    assert len(take_tracks(restored)) == 3 and restored.animation_data.action is None


def test_select_and_keep_need_takes(backend, empty_scene):
    assert bpy.ops.moscale.armature_add() == {'FINISHED'}
    with pytest.raises(RuntimeError, match="poll"):
        bpy.ops.moscale.keep_take()
