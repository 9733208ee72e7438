"""moscale.generate headless on our armature and on the Rigify metarig, with a real backend."""

import sys

import bpy
import numpy as np
from conftest import MODULE, action_fcurves, session
from expected_geometry import blender_from_model
from motion_checks import JOINTS, at_scene_frames, degrees_between, forward_kinematics

AIM_CHILD = {"pelvis": "spine1", "spine3": "neck"}


def generate(**settings) -> set:
    for key, value in settings.items():
        setattr(bpy.context.scene.moscale, key, value)
    return bpy.ops.moscale.generate()


def posed_world(obj, frames, point="head") -> np.ndarray:
    """World positions [F, B, 3] of every pose bone's head (or tail), frame by frame."""
    scene = bpy.context.scene
    result = []
    for frame in frames:
        scene.frame_set(frame)
        result.append([tuple(obj.matrix_world @ getattr(bone, point)) for bone in obj.pose.bones])
    return np.array(result)


def test_the_bundled_backend_runs(backend):
    assert "Connected (local)" in backend.status()
    assert "/extensions/" in backend.model["checkpoint"] and "backend/moscale/checkpoints" in backend.model["checkpoint"]


def test_our_armature_plays_the_motion_exactly(backend, empty_scene):
    scene = empty_scene
    scene.render.fps, scene.render.fps_base = 20, 1.0  # every scene frame is a motion frame
    assert bpy.ops.moscale.armature_add() == {'FINISHED'}
    assert generate(prompt="a person walks forward", seconds=4.0, seed=3) == {'FINISHED'}
    motion = session().last_motion
    # Same skeleton as the motion, so the armature must reproduce its joints, not just its angles.
    assert bpy.ops.moscale.armature_add(skeleton='LAST_MOTION') == {'FINISHED'}
    obj = bpy.context.active_object
    scene.moscale.use_current_frame, scene.moscale.start_frame = False, 10
    assert generate(prompt="a person walks forward", seconds=4.0, seed=3) == {'FINISHED'}
    assert np.array_equal(session().last_motion.to_numpy()["rotations"], motion.to_numpy()["rotations"])

    frames = motion.frames
    assert tuple(obj.animation_data.action.frame_range) == (10, 10 + frames - 1)
    heads = posed_world(obj, range(10, 10 + frames))
    order = [obj.pose.bones.find(joint) for joint in JOINTS]
    expected = blender_from_model(forward_kinematics(motion))
    error = np.linalg.norm(heads[:, order] - expected, axis=-1)
    assert error.max() < 0.01, error.max()
    ik_residual = np.linalg.norm(expected - blender_from_model(motion.to_numpy()["positions"]), axis=-1)
    print(f"joint error vs the motion's rotations: {error.max() * 1000:.3f} mm; the backend's IK residual "
          f"against its generated positions: {ik_residual.max() * 1000:.1f} mm")


def test_rigify_metarig_at_24_fps(backend, metarig):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.frame_start, scene.frame_end, scene.frame_current = 1, 100, 7
    previous = bpy.data.actions.new("hand keyed")
    metarig.animation_data_create().action = previous
    assert generate(prompt="a person jumps", seconds=3.0, seed=11) == {'FINISHED'}

    motion = session().last_motion
    count = round(motion.frames * 24 / 20)
    action = metarig.animation_data.action
    assert action.name.startswith("a person jumps") and action is not previous
    assert tuple(action.frame_range) == (7, 7 + count - 1)
    assert all(len(fcurve.keyframe_points) == count for fcurve in action_fcurves(metarig))
    assert (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end) == (24, 1.0, 1, 100)
    stash = [track for track in metarig.animation_data.nla_tracks if track.strips and track.strips[0].action == previous]
    assert len(stash) == 1 and stash[0].mute

    mapping = {"pelvis": "spine", "spine1": "spine.001", "spine2": "spine.002", "spine3": "spine.003",
               "neck": "spine.004"}  # leaves (head, wrists, toes) have no direction of their own
    for side, letter in (("left", "L"), ("right", "R")):
        mapping.update({f"{side}_hip": f"thigh.{letter}", f"{side}_knee": f"shin.{letter}",
                        f"{side}_ankle": f"foot.{letter}", f"{side}_collar": f"shoulder.{letter}",
                        f"{side}_shoulder": f"upper_arm.{letter}", f"{side}_elbow": f"forearm.{letter}"})
    frames = range(7, 7 + count)
    heads, tails = posed_world(metarig, frames), posed_world(metarig, frames, "tail")
    source = at_scene_frames(blender_from_model(forward_kinematics(motion)), 20.0, 24.0, count)
    for joint_name, bone_name in mapping.items():
        joint = JOINTS.index(joint_name)
        aim = JOINTS.index(AIM_CHILD.get(joint_name) or [JOINTS[c] for c, p in enumerate(motion.parents)
                                                         if p == joint][0])
        bone = metarig.pose.bones.find(bone_name)
        error = degrees_between(tails[:, bone] - heads[:, bone], source[:, aim] - source[:, joint])
        assert error.max() < 5.0, (bone_name, error.max())


def test_undo_restores_the_previous_action(backend, metarig):
    """In the UI, Blender pushes the undo step of an UNDO operator itself; headless (bpy module,
    operators called from Python) it pushes none, so the script marks the steps."""
    previous = bpy.data.actions.new("hand keyed")
    metarig.animation_data_create().action = previous
    modes = {bone.name: bone.rotation_mode for bone in metarig.pose.bones}
    bpy.ops.ed.undo_push(message="before generate")
    assert generate(prompt="a person waves", seconds=2.0, seed=1) == {'FINISHED'}
    assert bpy.data.objects["metarig"].animation_data.action.name.startswith("a person waves")
    bpy.ops.ed.undo_push(message="MoScale generate")
    assert bpy.ops.ed.undo() == {'FINISHED'}
    restored = bpy.data.objects["metarig"].animation_data
    assert restored.action.name == "hand keyed" and len(restored.nla_tracks) == 0
    assert not any(action.name.startswith("a person waves") for action in bpy.data.actions)
    assert {bone.name: bone.rotation_mode for bone in bpy.data.objects["metarig"].pose.bones} == modes


def test_the_writer_uses_this_blenders_action_api(addon):
    """Slotted actions from 4.4, F-curves on the action before: `scripts/test.sh --blender42` runs the latter."""
    writer = sys.modules[MODULE + ".blender.action_writer"]
    assert writer.SLOTTED_ACTIONS == (bpy.app.version >= (4, 4, 0))
