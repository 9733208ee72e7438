"""moscale.regenerate_range and moscale.extend headless, on a generated action on our armature and
on a hand-keyed action on the Rigify metarig, with a real backend."""

import sys

import bpy
import numpy as np
import pytest
from conftest import MODULE, action_fcurves

# A seam may move the pelvis by at most this much more than the action's own largest step
# between two frames: the backend re-anchors root and heading at each seam (its own check:
# the joints' jump at a seam is within twice the mean step), and the add-on blends the keys.
SEAM_SLACK = 0.02  # metres


def range_summary() -> str:
    return sys.modules[MODULE + ".blender.panels"].range_summary(bpy.context)


def snapshot(obj) -> dict:
    """Every key of every F-curve: (data_path, index) -> [N, 7] frame, value, handles, interpolation."""
    keys = {}
    for fcurve in action_fcurves(obj):
        keys[fcurve.data_path, fcurve.array_index] = np.array(
            [(*point.co, *point.handle_left, *point.handle_right, point.interpolation == 'LINEAR')
             for point in fcurve.keyframe_points], dtype=np.float64)
    return keys


def assert_kept_outside(before: dict, after: dict, first: float, last: float) -> None:
    """Keys outside [first, last] are bit-identical (co and both handles) and none is lost."""
    for channel, old in before.items():
        new = after[channel]
        outside_old = old[(old[:, 0] < first) | (old[:, 0] > last)]
        outside_new = new[(new[:, 0] < first) | (new[:, 0] > last)]
        assert np.array_equal(outside_old, outside_new), channel


def pelvis_path(obj, bone: str, frames) -> np.ndarray:
    scene = bpy.context.scene
    path = []
    for frame in frames:
        scene.frame_set(frame)
        path.append(tuple(obj.matrix_world @ obj.pose.bones[bone].head))
    return np.array(path)


def posed_heads(obj, frames) -> np.ndarray:
    scene = bpy.context.scene
    result = []
    for frame in frames:
        scene.frame_set(frame)
        result.append([tuple(bone.head) for bone in obj.pose.bones])
    return np.array(result)


def assert_continuous(obj, bone: str, seams, frames) -> None:
    """The bone's world position steps across each seam (frame, frame + 1) no more than the
    largest step elsewhere plus SEAM_SLACK."""
    path = pelvis_path(obj, bone, frames)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=-1)
    seam_rows = [list(frames).index(seam) for seam in seams]
    elsewhere = np.delete(steps, seam_rows)
    for row, seam in zip(seam_rows, seams):
        print(f"seam {seam}-{seam + 1}: {steps[row] * 100:.2f} cm "
              f"(largest step elsewhere {elsewhere.max() * 100:.2f} cm)")
        assert steps[row] <= elsewhere.max() + SEAM_SLACK, (seam, steps[row], elsewhere.max())


@pytest.fixture
def walking_armature(backend, empty_scene):
    """Our armature with a generated 6 s walk keyed from frame 1 at 24 fps."""
    scene = empty_scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    assert bpy.ops.moscale.armature_add() == {'FINISHED'}
    settings = scene.moscale
    settings.prompt, settings.seconds, settings.seed = "a person walks forward", 6.0, 3
    settings.use_current_frame, settings.start_frame = False, 1
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    return bpy.context.active_object


def test_regenerate_the_middle_of_a_generated_action(walking_armature):
    obj, scene = walking_armature, bpy.context.scene
    name, action = obj.name, obj.animation_data.action
    assert action["moscale_prompt"] == "a person walks forward"
    scene.moscale.range_start, scene.moscale.range_end = 10, 20
    assert range_summary() == "Range 10-20 from the start/end fields"  # a fresh action's keys are all selected
    scene.use_preview_range, scene.frame_preview_start, scene.frame_preview_end = True, 61, 80
    assert range_summary() == "Range 61-80 from the preview range"
    before = snapshot(obj)
    bpy.ops.ed.undo_push(message="before regenerate")
    assert bpy.ops.moscale.regenerate_range() == {'FINISHED'}
    after = snapshot(obj)
    assert obj.animation_data.action == action and action.frame_range[:] == (1, 144)
    assert_kept_outside(before, after, 61, 80)
    inside = [channel for channel in before if not np.array_equal(before[channel], after[channel])]
    assert inside and all(np.array_equal(after[channel][60:80, 0], np.arange(61, 81)) for channel in inside)
    assert_continuous(obj, "pelvis", (60, 80), range(40, 101))

    bpy.ops.ed.undo_push(message="MoScale regenerate range")
    assert bpy.ops.ed.undo() == {'FINISHED'}
    restored = bpy.data.objects[name]  # undo replaced the object
    assert all(np.array_equal(keys, before[channel]) for channel, keys in snapshot(restored).items())
    assert snapshot(restored).keys() == before.keys()


def test_regenerate_selected_keys_of_a_hand_keyed_metarig(backend, metarig):
    scene, name = bpy.context.scene, metarig.name
    scene.render.fps, scene.render.fps_base = 24, 1.0
    swing = {"thigh.L": 1.0, "thigh.R": -1.0, "shin.L": -0.5, "shin.R": 0.5, "upper_arm.L": -0.6,
             "upper_arm.R": 0.6, "spine.003": 0.1}
    for frame in range(1, 146, 12):
        phase = 1.0 if (frame // 12) % 2 == 0 else -1.0
        for bone, amount in swing.items():
            angle = 0.4 * amount * phase
            metarig.pose.bones[bone].rotation_quaternion = (np.cos(angle / 2), np.sin(angle / 2), 0.0, 0.0)
            metarig.pose.bones[bone].keyframe_insert("rotation_quaternion", frame=frame)
        metarig.pose.bones["spine"].location = (0.0, 0.0, 0.05 * (frame // 12))  # the hips bone moves forward
        metarig.pose.bones["spine"].keyframe_insert("location", frame=frame)
    for fcurve in action_fcurves(metarig):
        for point in fcurve.keyframe_points:
            point.select_control_point = point.co[0] in (61, 85)
    scene.moscale.range_prompt = "a person jumps"
    assert scene.moscale.target_object(bpy.context) == metarig
    assert range_summary() == "Range 61-85 from the selected keys"
    # Keys every 12 frames: 61, 73 and 85 are replaced, so 49 and 97 are the nearest kept keys;
    # frames between them and the range are interpolated towards the new keys.
    outside = [1, 30, 48, 49, 97, 98, 120, 145]
    heads_before = posed_heads(metarig, outside)
    before = snapshot(metarig)
    bpy.ops.ed.undo_push(message="before regenerate")
    assert bpy.ops.moscale.regenerate_range() == {'FINISHED'}
    assert_kept_outside(before, snapshot(metarig), 61, 85)
    # Bones the hand-keyed action did not animate got keys in the range only: the pose outside holds.
    assert np.abs(posed_heads(metarig, outside) - heads_before).max() < 1e-5
    assert_continuous(metarig, "spine", (60, 85), range(40, 106))

    bpy.ops.ed.undo_push(message="MoScale regenerate range")
    assert bpy.ops.ed.undo() == {'FINISHED'}
    restored = snapshot(bpy.data.objects[name])
    assert restored.keys() == before.keys()
    assert all(np.array_equal(keys, before[channel]) for channel, keys in restored.items())


def test_extend_continues_the_action(walking_armature):
    obj, scene = walking_armature, bpy.context.scene
    scene.moscale.prompt, scene.moscale.extend_seconds = "a person turns around and walks back", 2.0
    before = snapshot(obj)
    assert bpy.ops.moscale.extend() == {'FINISHED'}
    action = obj.animation_data.action
    assert action.frame_range[:] == (1, 144 + 48)
    after = snapshot(obj)
    assert_kept_outside(before, after, 144.5, np.inf)
    assert all(len(keys) == 144 + 48 for keys in after.values())
    assert_continuous(obj, "pelvis", (144,), range(120, 192))


def test_extend_from_a_chosen_frame_replaces_the_keys_after_it(walking_armature):
    obj, scene = walking_armature, bpy.context.scene
    settings = scene.moscale
    settings.extend_from_last_key, settings.extend_frame, settings.extend_seconds = False, 100, 1.0
    settings.randomize_seed = True
    before = snapshot(obj)
    assert bpy.ops.moscale.extend() == {'FINISHED'}
    assert settings.seed != 3  # the random seed used is written back, as generate does
    after = snapshot(obj)
    assert obj.animation_data.action.frame_range[:] == (1, 124)
    assert_kept_outside(before, after, 100.5, np.inf)
    assert all(np.array_equal(keys[100:, 0], np.arange(101, 125)) for keys in after.values())
    assert_continuous(obj, "pelvis", (100,), range(80, 124))


def test_cancel_leaves_the_action_untouched(walking_armature):
    """The modal path (as the panel's button runs it), cancelled by Esc before the backend answers."""
    scene = bpy.context.scene
    scene.use_preview_range, scene.frame_preview_start, scene.frame_preview_end = True, 61, 80
    before = snapshot(walking_armature)
    operators = sys.modules[MODULE + ".blender.operators"]
    range_edit = sys.modules[MODULE + ".blender.range_edit"]
    reports = []
    run = operators.GenerateRun(range_edit.plan_regenerate(bpy.context), lambda kind, text: reports.append(text))
    assert run.tick(bpy.context, 'ESC') == {'RUNNING_MODAL'}
    run.task.wait()
    assert run.finish(bpy.context) == {'CANCELLED'} and reports == ["Regenerate cancelled; nothing was changed"]
    after = snapshot(walking_armature)
    assert after.keys() == before.keys() and all(np.array_equal(after[key], before[key]) for key in before)


def test_errors_leave_the_action_unchanged(walking_armature):
    obj, scene = walking_armature, bpy.context.scene
    before = snapshot(obj)
    scene.use_preview_range, scene.frame_preview_start, scene.frame_preview_end = True, 1, 144
    with pytest.raises(RuntimeError, match="whole animation"):
        bpy.ops.moscale.regenerate_range()
    obj.animation_data.action = None
    with pytest.raises(RuntimeError, match="no action to edit"):
        bpy.ops.moscale.extend()
    assert bpy.data.actions[0].name.startswith("a person walks")
    obj.animation_data.action = bpy.data.actions[0]
    assert all(np.array_equal(keys, before[channel]) for channel, keys in snapshot(obj).items())
