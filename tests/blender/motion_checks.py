"""Expected poses, written apart from the add-on: forward kinematics of a motion and Blender's axes."""

import numpy as np

# The 22 joints of the HumanML3D skeleton, in SMPL order: the bones of our armature.
JOINTS = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
          "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
          "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
          "left_wrist", "right_wrist")


def quaternion_matrix(q) -> np.ndarray:
    """(w, x, y, z) [..., 4] -> [..., 3, 3], the textbook formula."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


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


def blender_from_model(vectors) -> np.ndarray:
    """Model (x left, y up, z forward) -> Blender (x left, z up, -y forward)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    return np.stack([vectors[..., 0], -vectors[..., 2], vectors[..., 1]], axis=-1)


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
