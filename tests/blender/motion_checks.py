"""Expected poses, written apart from the add-on: forward kinematics of a motion and Blender's axes."""

import numpy as np
from expected_geometry import quaternion_matrix

# The 22 joints of the HumanML3D skeleton, in SMPL order: the bones of our armature.
JOINTS = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
          "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
          "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
          "left_wrist", "right_wrist")


def forward_kinematics(motion) -> np.ndarray:
    """Joint positions [T, J, 3] (model space) that the motion's rotations, root translation and rest
    skeleton describe: what an action made from it must reproduce."""
    arrays = motion.to_numpy()
    offsets = arrays["rest_offsets"].astype(np.float64)
    local = quaternion_matrix(arrays["rotations"])
    frames, joints = local.shape[:2]
    world = np.empty_like(local)
    positions = np.empty((frames, joints, 3))
    world[:, 0] = local[:, 0]
    positions[:, 0] = arrays["root_translation"] + offsets[0]
    for joint in range(1, joints):
        parent = motion.parents[joint]
        world[:, joint] = world[:, parent] @ local[:, joint]
        positions[:, joint] = positions[:, parent] + world[:, parent] @ offsets[joint]
    return positions


def at_scene_frames(values, source_fps, scene_fps, count) -> np.ndarray:
    """Per-frame values [N, ...] sampled at `count` scene frames by linear interpolation."""
    position = np.minimum(np.arange(count) * source_fps / scene_fps, len(values) - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, len(values) - 1)
    weight = (position - lower).reshape((-1,) + (1,) * (values.ndim - 1))
    return (1 - weight) * values[lower] + weight * values[upper]


def degrees_between(u, v) -> np.ndarray:
    cosine = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
