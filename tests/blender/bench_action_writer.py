"""Benchmark: a 10 s motion onto the Rigify human metarig at 24 fps, written by the add-on's bulk
writer (keyframe_points.add + foreach_set) against the same keys through keyframe_insert.

    .venv-blender/bin/python tests/blender/bench_action_writer.py
"""

import importlib
import time

from blender_env import MODULE, USER_RESOURCES, install_extension

import bpy  # after blender_env, which sets the user folders
import numpy as np

SECONDS, SOURCE_FPS, SCENE_FPS, REPEATS = 10.0, 20.0, 24, 5


def smooth_motion(frames: int, joints: int):
    """Rotations [T, J, 4] (w, x, y, z) swinging about changing axes, and a root path [T, 3]."""
    time_axis = np.arange(frames)[:, None] / SOURCE_FPS
    phase = np.arange(joints)[None, :]
    angle = 0.4 * np.sin(2 * np.pi * 0.8 * time_axis + phase)
    axis = np.stack([np.sin(phase + time_axis), np.cos(phase * 0.7 + 0 * time_axis), np.sin(0.3 * phase) + 0.5 + 0 * time_axis], -1)
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    rotations = np.concatenate([np.cos(angle / 2)[..., None], np.sin(angle / 2)[..., None] * axis], axis=-1)
    root = np.stack([0.1 * np.sin(time_axis[:, 0]), 0.02 * np.sin(6 * time_axis[:, 0]), 1.2 * time_axis[:, 0]], -1)
    return rotations, root


def keyframe_insert_all(obj, keys, rotations, locations) -> None:
    """The per-key way: pose each frame, insert each channel's key."""
    obj.animation_data_create().action = bpy.data.actions.new("keyframe_insert")
    for frame in range(len(rotations)):
        for k, name in enumerate(keys.bone_names):
            bone = obj.pose.bones[name]
            bone.rotation_quaternion = rotations[frame, k]
            bone.keyframe_insert("rotation_quaternion", frame=1 + frame, group=name)
        root = obj.pose.bones[keys.root_bone]
        root.location = locations[frame]
        root.keyframe_insert("location", frame=1 + frame, group=keys.root_bone)


def main() -> None:
    install_extension(USER_RESOURCES / "dist")
    writer = importlib.import_module(MODULE + ".blender.action_writer")
    armature = importlib.import_module(MODULE + ".blender.armature")
    retarget = importlib.import_module(MODULE + ".retarget")
    resample = importlib.import_module(MODULE + ".resample")
    bone_maps = importlib.import_module(MODULE + ".bone_maps")
    skeleton = importlib.import_module(MODULE + ".backend.moscale.motion.skeleton")

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = SCENE_FPS
    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    obj = bpy.context.active_object
    rig = armature.rig_from_object(obj)
    binding = retarget.bind(rig, bone_maps.build_mapping(rig.bone_names), skeleton.JOINT_NAMES, skeleton.PARENTS,
                            skeleton.DEFAULT_REST_OFFSETS)
    rotations, root = smooth_motion(int(SECONDS * SOURCE_FPS), len(skeleton.JOINT_NAMES))
    for name in writer.non_quaternion_bones(obj, retarget.retarget(binding, rotations, root).bone_names):
        obj.pose.bones[name].rotation_mode = 'QUATERNION'

    bulk, whole = [], []
    for repeat in range(REPEATS):
        started = time.perf_counter()
        keys = retarget.retarget(binding, rotations, root)
        retargeted = time.perf_counter()
        action = writer.write_action(obj, keys, f"bulk {repeat}", 1, SOURCE_FPS, SCENE_FPS)
        done = time.perf_counter()
        bulk.append(done - retargeted)
        whole.append(done - started)
    frames = len(action.layers[0].strips[0].channelbags[0].fcurves[0].keyframe_points) if writer.SLOTTED_ACTIONS \
        else len(action.fcurves[0].keyframe_points)
    channels = 4 * len(keys.bone_names) + 3

    scene_rotations = resample.resample_rotations(keys.rotations, SOURCE_FPS, SCENE_FPS)
    scene_locations = resample.resample_locations(keys.root_locations, SOURCE_FPS, SCENE_FPS)
    started = time.perf_counter()
    keyframe_insert_all(obj, keys, scene_rotations, scene_locations)
    per_key = time.perf_counter() - started

    best = min(bulk)
    print(f"Rigify metarig ({len(rig.bone_names)} bones, {len(keys.bone_names)} keyed), {SECONDS:g} s at "
          f"{SCENE_FPS} fps: {frames} frames x {channels} channels = {frames * channels} keys")
    print(f"bulk writer (resample + F-curves + assign), best of {REPEATS}: {best * 1e3:.1f} ms")
    print(f"retarget + bulk writer, best of {REPEATS}: {min(whole) * 1e3:.1f} ms")
    print(f"keyframe_insert, once: {per_key * 1e3:.1f} ms")
    print(f"ratio: {per_key / best:.0f}x")


if __name__ == "__main__":
    main()
