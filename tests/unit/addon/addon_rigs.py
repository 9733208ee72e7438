"""Test rigs, test motions and an armature forward kinematics written apart from the add-on.

The FK is Blender's rule for a pose bone with default inheritance, in armature space:
world = parent_world @ parent_rest^-1 @ rest @ basis, basis = translation(location) @ rotation.
"""

import json
from pathlib import Path

import numpy as np
from moscale.data.synth import make_clip
from moscale.motion.motion import Motion
from moscale.motion.skeleton import JOINT_NAMES, PARENTS
from expected_geometry import blender_from_model, quaternion_matrix
from synthetic_motion import make_walk

from addon.rig import Rig

HERE = Path(__file__).resolve().parent
# Joints with several children, and the child their bone points to.
AIM_CHILD = {"pelvis": "spine1", "spine3": "neck"}


def rest_positions(offsets) -> np.ndarray:
    positions = np.array(offsets, dtype=np.float64)
    for joint in range(1, len(PARENTS)):
        positions[joint] += positions[PARENTS[joint]]
    return positions


def bone_matrix(head, tail, roll) -> np.ndarray:
    """A rest matrix: Y from head to tail, X and Z turned by `roll` about it."""
    y = (tail - head) / np.linalg.norm(tail - head)
    helper = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(y, helper)
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    x, z = np.cos(roll) * x + np.sin(roll) * z, np.cos(roll) * z - np.sin(roll) * x
    matrix = np.eye(4)
    matrix[:3, :3] = np.stack([x, y, z], axis=-1)
    matrix[:3, 3] = head
    return matrix


def skeleton_rig(offsets, seed=0, scale=1.0, armature_turn=None, prefix="", name="Skeleton") -> Rig:
    """Our skeleton as a Blender armature: one bone per joint, head at the joint, standing on
    z = 0, pointing to its (aim) child (leaves: a random direction), random rolls, bones in a
    shuffled order. `armature_turn` rotates the whole rest pose (a Y-up import, say)."""
    rng = np.random.default_rng(seed)
    standing = rest_positions(offsets)
    standing[:, 1] -= standing[:, 1].min()
    turn = np.eye(3) if armature_turn is None else armature_turn
    heads = blender_from_model(standing) * scale @ turn.T
    bones = []
    for joint, joint_name in enumerate(JOINT_NAMES):
        children = [c for c, p in enumerate(PARENTS) if p == joint]
        if joint_name in AIM_CHILD:
            tail = heads[JOINT_NAMES.index(AIM_CHILD[joint_name])]
        elif children:
            tail = heads[children[0]]
        else:
            tail = heads[joint] + 0.05 * scale * rng.normal(size=3)
        parent = prefix + JOINT_NAMES[PARENTS[joint]] if joint else None
        bones.append((prefix + joint_name, parent, heads[joint], tail,
                      bone_matrix(heads[joint], tail, rng.uniform(-np.pi, np.pi))))
    order = rng.permutation(len(bones))
    return Rig.from_bones(name, [bones[i] for i in order])


def rigify_metarig() -> Rig:
    document = json.loads((HERE / "rigify_metarig_rest.json").read_text())
    return Rig.from_bones("metarig", [(b[0], b[1], b[2], b[3], b[5]) for b in document["bones"]])


def rigify_generated_bone_names() -> list[str]:
    return json.loads((HERE / "rigify_generated_bone_names.json").read_text())["bone_names"]


def walk_motion(frames=200, turns=0.5, seed=0) -> Motion:
    """A turning walk as the backend would send it: rotations solved by IK from positions."""
    return Motion.from_positions(make_walk(frames=frames, turns=turns, seed=seed).positions)


def synth_motion(index) -> Motion:
    """A clip of the synthetic corpus (walks, jumps, waves, ...) through the same IK."""
    return Motion.from_positions(make_clip(np.random.default_rng([7, index])).positions)


def posed_matrices(rig: Rig, keys) -> np.ndarray:
    """Armature-space pose matrices [T, B, 4, 4] of every bone of `rig` posed by a Retargeted."""
    frames = len(keys.rotations)
    slot = {name: k for k, name in enumerate(keys.bone_names)}
    rest = rig.matrices
    world = np.empty((frames, len(rig.bone_names), 4, 4))
    for bone, name in enumerate(rig.bone_names):
        basis = np.tile(np.eye(4), (frames, 1, 1))
        if name in slot:
            basis[:, :3, :3] = quaternion_matrix(keys.rotations[:, slot[name]])
        if name == keys.root_bone:
            basis[:, :3, 3] = keys.root_locations
        parent = rig.parents[bone]
        local = rest[bone] if parent < 0 else np.linalg.inv(rest[parent]) @ rest[bone]
        above = np.eye(4) if parent < 0 else world[:, parent]
        world[:, bone] = above @ local @ basis
    return world
