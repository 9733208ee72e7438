"""Retargeting a skeleton motion onto any armature: pose-space rotations per bone and frame.

The motion (model space, see axes.py) gives each joint a world rotation G relative to the rest
pose it was solved on. A target bone mapped to that joint gets the world rotation

    W = G' @ A,    A = O @ R_rest,

where G' is G seen in the rig's armature space, R_rest the bone's rest orientation and O a fixed
alignment that turns the target's rest pose onto the source's by matching world-space
directions, so T-pose against A-pose, rolls and differing bone axes all drop out:

- a joint with a mapped joint below it (its one child; the spine for the pelvis, the neck for
  the upper spine) turns the bone's direction onto the source's joint-to-joint direction. The
  bone's direction is its own axis (head to tail) when that points within 30 degrees of the next
  mapped bone's head, else the way to that head: imports of X-along-bone skeletons leave tails
  pointing sideways;
- the pelvis and the upper spine also match their left-right axis (hips, collars), which fixes
  their twist;
- a joint with nothing mapped below (head, wrists, toes) takes its parent's alignment, so a leaf
  that does not move relative to its parent in the source does not move on the target either.

Bones between two mapped bones (Rigify's upper neck, a mannequin's extra spine bones, twist
segments) are keyed at rest: the source has no joint there, so they turn with the mapped bone
above them and the chain below stays whole. Unmapped bones above the mapped ones are assumed to
be at rest; other unmapped bones get no keys. The pose-space rotation Blender stores
(`pose_bone.rotation_quaternion`, for bones that inherit rotation as they do by default) is then
P = (W_parent @ R_parent^T @ R_rest)^T @ W.

The hips bone also gets a location: the source pelvis path, measured from where the rest
skeleton would stand on the floor, scaled by target leg length / source leg length; in place,
without its horizontal part.
"""

from dataclasses import dataclass

import numpy as np

from . import axes, bone_maps
from . import quaternion as quat
from .rig import Rig

# Joints with several children: the child whose direction they are aimed by...
AIM_CHILD = {"pelvis": "spine1", "spine3": "neck"}
# ...and the pair of joints whose difference is their left-right axis.
ACROSS = {"pelvis": ("left_hip", "right_hip"), "spine3": ("left_collar", "right_collar")}
# A direction shorter than this (in the rig's or the skeleton's units) is no direction.
_TINY = 1e-9
# A bone whose own axis (head to tail) is within this angle of the way to the next mapped bone's
# head is aimed by its own axis; beyond it the tail says nothing (an FBX import without
# "Automatic Bone Orientation" leaves X-along-bone skeletons such as Unreal's pointing sideways).
_OWN_AXIS_LIMIT = np.radians(30.0)


@dataclass(frozen=True)
class Binding:
    """How a source skeleton drives a rig: everything that does not change from frame to frame."""

    rig: Rig
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    rest_offsets: np.ndarray       # [J, 3] the source skeleton, model space
    joints: np.ndarray             # [M] source joint of each mapped bone, in skeleton order
    bones: np.ndarray              # [M] rig bone of each mapped bone
    alignments: np.ndarray         # [M, 3, 3] A: posed world rotation = G' @ A
    keyed: np.ndarray              # [K] rig bones that get keys (mapped and in-between), parents first
    model_to_armature: np.ndarray  # [3, 3] model space -> the rig's armature space
    scale: float                   # target leg length / source leg length
    source_stand: np.ndarray       # [3] model-space pelvis of the rest skeleton standing on y = 0
    target_stand: np.ndarray       # [3] armature-space rest head of the hips bone

    @property
    def mapped_bone_names(self) -> list[str]:
        return [self.rig.bone_names[b] for b in self.bones]


@dataclass
class Retargeted:
    """Keys for one motion on one rig, at the motion's frame rate."""

    bone_names: list[str]        # keyed bones, parents first
    rotations: np.ndarray        # [T, K, 4] pose-space rotation_quaternion (w, x, y, z), sign-continuous
    root_bone: str               # the bone mapped to the pelvis
    root_locations: np.ndarray   # [T, 3] its pose-space location
    rest_bones: list[str]        # the in-between bones among bone_names (keyed at rest)
    scale: float


def bind(rig: Rig, mapping: dict[str, str], joint_names, parents, rest_offsets) -> Binding:
    """Prepare retargeting from a source skeleton onto `rig` with a joint -> bone `mapping`.

    Raises bone_maps.BoneMapError when the mapping cannot drive the rig.
    """
    joint_names, parents = tuple(joint_names), tuple(int(p) for p in parents)
    rest_offsets = np.asarray(rest_offsets, dtype=np.float64)
    _check(rig, mapping, joint_names)
    joint_index = {name: j for j, name in enumerate(joint_names)}
    mapped = [(j, rig.index(mapping[name])) for j, name in enumerate(joint_names) if name in mapping]
    bone_of = dict(mapped)
    source = rest_positions(parents, rest_offsets)

    def head(joint_name):
        return rig.heads[bone_of[joint_index[joint_name]]]

    shoulders = 0.5 * (head("left_shoulder") + head("right_shoulder"))
    model_to_armature = axes.model_to_armature(up=shoulders - head("pelvis"),
                                               left=head("left_hip") - head("right_hip"))

    turns = _rest_alignments(rig, joint_names, parents, bone_of, source, model_to_armature)
    alignments = np.stack([turns[j] @ rig.rest_rotations[b] for j, b in mapped])

    scale = _leg_length(head) / _leg_length(lambda name: source[joint_index[name]])
    source_stand = source[0] - np.array([0.0, source[:, 1].min(), 0.0])
    return Binding(
        rig=rig, joint_names=joint_names, parents=parents, rest_offsets=rest_offsets,
        joints=np.array([j for j, _ in mapped]), bones=np.array([b for _, b in mapped]),
        alignments=alignments, keyed=_keyed_bones(rig, [b for _, b in mapped]),
        model_to_armature=model_to_armature, scale=float(scale),
        source_stand=source_stand, target_stand=head("pelvis").copy(),
    )


def retarget(binding: Binding, rotations, root_translation, in_place: bool = False) -> Retargeted:
    """Keys for a motion: local joint rotations [T, J, 4] (w, x, y, z) and root translation [T, 3],
    both model space on the binding's skeleton. `in_place` drops the horizontal root motion."""
    rig = binding.rig
    rotations = np.asarray(rotations, dtype=np.float64)
    root_translation = np.asarray(root_translation, dtype=np.float64)
    frames = len(rotations)
    if rotations.shape != (frames, len(binding.joint_names), 4) or root_translation.shape != (frames, 3):
        raise ValueError(
            f"retarget: rotations must be [T, {len(binding.joint_names)}, 4] and root translation "
            f"[T, 3], got {rotations.shape} and {root_translation.shape}"
        )

    world = np.empty_like(rotations)  # source world rotations, model space
    world[:, 0] = rotations[:, 0]
    for joint in range(1, len(binding.parents)):
        world[:, joint] = quat.multiply(world[:, binding.parents[joint]], rotations[:, joint])
    turn = binding.model_to_armature
    source = turn @ quat.to_matrix(world[:, binding.joints]) @ turn.T  # [T, M, 3, 3]
    mapped_world = source @ binding.alignments

    # World rotation of each keyed bone, and of its parent as posed (a bone that is not keyed
    # stays at rest). In-between bones keep their rest offset from the posed parent.
    rest = rig.rest_rotations
    slot = {bone: k for k, bone in enumerate(binding.keyed)}
    mapped_slot = {bone: m for m, bone in enumerate(binding.bones)}
    keyed_world = np.empty((frames, len(binding.keyed), 3, 3))
    parent_world = np.empty_like(keyed_world)
    relative_rest = np.empty((len(binding.keyed), 3, 3))
    for k, bone in enumerate(binding.keyed):
        parent = rig.parents[bone]
        parent_rest = rest[parent] if parent >= 0 else np.eye(3)
        parent_world[:, k] = keyed_world[:, slot[parent]] if parent in slot else parent_rest
        relative_rest[k] = parent_rest.T @ rest[bone]
        if bone in mapped_slot:
            keyed_world[:, k] = mapped_world[:, mapped_slot[bone]]
        else:
            keyed_world[:, k] = parent_world[:, k] @ relative_rest[k]
    pose = np.swapaxes(parent_world @ relative_rest, -1, -2) @ keyed_world
    pose_quaternions = quat.make_continuous(quat.from_matrix(pose), axis=0)
    pose_quaternions *= np.where(pose_quaternions[:1, :, :1] < 0.0, -1.0, 1.0)  # start with w >= 0

    # The hips bone's ancestors are at rest (checked in bind), so its world head is
    # head + R_rest @ location.
    pelvis = root_translation + binding.rest_offsets[0]
    shift = pelvis - binding.source_stand
    if in_place:
        shift[:, [0, 2]] = 0.0  # model space: x and z are horizontal
    heads = binding.target_stand + binding.scale * shift @ turn.T
    root = binding.bones[0]
    locations = (heads - rig.heads[root]) @ rest[root]

    names = [rig.bone_names[b] for b in binding.keyed]
    return Retargeted(
        bone_names=names,
        rotations=pose_quaternions,
        root_bone=rig.bone_names[root],
        root_locations=locations,
        rest_bones=[rig.bone_names[b] for b in binding.keyed if b not in mapped_slot],
        scale=binding.scale,
    )


def rest_positions(parents, rest_offsets) -> np.ndarray:
    """Joint positions [J, 3] of a skeleton's rest pose (root at offsets[0])."""
    offsets = np.asarray(rest_offsets, dtype=np.float64)
    positions = offsets.copy()
    for joint in range(1, len(parents)):
        positions[joint] = positions[parents[joint]] + offsets[joint]
    return positions


def _check(rig: Rig, mapping: dict[str, str], joint_names) -> None:
    bone_maps.check_mapping(mapping, rig.name)
    unknown = [joint for joint in mapping if joint not in joint_names]
    if unknown:
        raise ValueError(f"The motion's skeleton has no joints named: {', '.join(unknown)}")
    missing = [bone for bone in mapping.values() if bone not in rig]
    if missing:
        raise bone_maps.BoneMapError(f"Rig '{rig.name}' has no bones named: {', '.join(missing)}")
    if joint_names[0] != "pelvis":
        raise ValueError(f"retarget expects the skeleton's root joint to be 'pelvis', got {joint_names[0]!r}")
    hips = rig.index(mapping["pelvis"])
    above = [rig.bone_names[b] for b in rig.ancestors(hips) if rig.bone_names[b] in mapping.values()]
    if above:
        raise bone_maps.BoneMapError(
            f"Rig '{rig.name}': the pelvis bone '{mapping['pelvis']}' must not lie under other "
            f"mapped bones ({', '.join(above)})"
        )


def _rest_alignments(rig, joint_names, parents, bone_of, source, model_to_armature) -> dict:
    """joint -> O, the rotation turning its bone's rest onto the source's (module docstring)."""
    joint_index = {name: j for j, name in enumerate(joint_names)}

    def directions(start, end):  # (source, target) direction between two mapped joints
        return (model_to_armature @ (source[end] - source[start]),
                rig.heads[bone_of[end]] - rig.heads[bone_of[start]])

    turns = {}
    for joint in sorted(bone_of):  # parents before children
        aim = _aim_joint(joint, joint_names, parents, bone_of)
        aim_source, aim_target = directions(joint, aim) if aim is not None else (0.0, 0.0)
        own = rig.tails[bone_of[joint]] - rig.heads[bone_of[joint]]
        if _angle(own, aim_target) < _OWN_AXIS_LIMIT:
            aim_target = own
        pair = [joint_index.get(name) for name in ACROSS.get(joint_names[joint], ())]
        if min(np.linalg.norm(aim_source), np.linalg.norm(aim_target)) <= _TINY:
            parent = parents[joint]  # nothing to aim at: turn like the nearest mapped ancestor
            while parent >= 0 and parent not in turns:
                parent = parents[parent]
            turns[joint] = turns[parent] if parent >= 0 else np.eye(3)
        elif pair and all(p in bone_of for p in pair):
            across_source, across_target = directions(pair[1], pair[0])
            turns[joint] = _frame(aim_source, across_source) @ _frame(aim_target, across_target).T
        else:
            turns[joint] = quat.to_matrix(quat.between(aim_target, aim_source))
    return turns


def _aim_joint(joint, joint_names, parents, bone_of):
    """The first mapped joint down the joint's aim chain (its child, that child's child, ...)."""
    while True:
        children = [c for c, p in enumerate(parents) if p == joint]
        if len(children) == 1:
            joint = children[0]
        elif AIM_CHILD.get(joint_names[joint]) in joint_names:
            joint = joint_names.index(AIM_CHILD[joint_names[joint]])
        else:
            return None
        if joint in bone_of:
            return joint


def _angle(u, v) -> float:
    """Angle in radians between two directions; pi when either has no length."""
    lengths = np.linalg.norm(u) * np.linalg.norm(v)
    return float(np.arccos(np.clip(np.dot(u, v) / lengths, -1.0, 1.0))) if lengths > _TINY ** 2 else np.pi


def _leg_length(point) -> float:
    """Thigh plus shin of both legs, from a joint name -> position function."""
    total = 0.0
    for side in ("left", "right"):
        hip, knee, ankle = (point(f"{side}_{part}") for part in ("hip", "knee", "ankle"))
        total += np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee)
    return float(total)


def _frame(primary, secondary) -> np.ndarray:
    """Orthonormal frame [3, 3] with columns primary, secondary made orthogonal, their cross."""
    a = primary / np.linalg.norm(primary)
    b = secondary - np.dot(secondary, a) * a
    b /= np.linalg.norm(b)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def _keyed_bones(rig: Rig, mapped) -> np.ndarray:
    """Mapped bones plus the bones between each and the nearest mapped bone above it."""
    mapped = set(mapped)
    keyed = set(mapped)
    for bone in mapped:
        chain = []
        for ancestor in rig.ancestors(bone):
            if ancestor in mapped:
                keyed.update(chain)
                break
            chain.append(ancestor)
    return np.array(sorted(keyed))
