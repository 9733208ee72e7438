"""Inverse kinematics: joint positions -> local joint rotations on the 22-joint skeleton.

Each joint's global rotation maps a frame built from its rest pose onto the same frame built from
the observed positions: G[j] = F_observed[j] @ F_rest[j]^T. A frame has a primary axis (the bone
to the child, or the across vector for joints with several children) and a secondary axis that
fixes the twist, taken from body cues rather than from the heading, so nothing flips when the
character faces backwards:

- pelvis: across the hips, then the spine; spine3: across the collars, then the neck;
- spine1 / spine2: bone direction, twist blended between the hips' and the collars' across vectors;
- upper leg and knee, upper arm and elbow: bone direction, twist from the limb's bend axis (so
  the knee and elbow turn about a hinge); a straight limb has no bend plane, so its twist falls
  back smoothly to the parent's frame swung onto the bone;
- ankle: toe direction and the shin; neck: head direction and the collars' across vector;
- collars: the parent's frame swung onto the bone (least twist);
- leaf joints (feet, head, wrists) carry no bone of their own and keep their parent's rotation.

Only the primary axis moves children, so a joint with one child reproduces it exactly whatever
its twist; joints with several children are exact when the input keeps its rest geometry, which
`skeleton_from_positions` arranges by measuring that geometry from the input.
"""

import numpy as np

from . import quaternion as quat
from .skeleton import (
    DEFAULT_REST_OFFSETS, JOINT_COUNT, JOINT_NAMES, LEFT_COLLAR, LEFT_HIP, PARENTS, RIGHT_COLLAR,
    RIGHT_HIP, Skeleton,
)

PELVIS, SPINE1, SPINE2, SPINE3, NECK, HEAD = 0, 3, 6, 9, 12, 15

# (upper joint, middle joint, end joint, bend axis at rest): knees bend about +X; with the arms
# out along +-X, elbows bend the forearm forward, about -Y (left) and +Y (right).
_LIMBS = (
    (1, 4, 7, (1.0, 0.0, 0.0)),
    (2, 5, 8, (1.0, 0.0, 0.0)),
    (16, 18, 20, (0.0, -1.0, 0.0)),
    (17, 19, 21, (0.0, 1.0, 0.0)),
)
_LIMB_OF_JOINT = {joint: limb for limb in _LIMBS for joint in limb[:2]}
_ANKLES = {7: (10, 4), 8: (11, 5)}  # ankle: (toe joint, knee)
_MULTI_CHILD_JOINTS = (PELVIS, SPINE3)
# Weight of the parent-derived twist reference in a straight limb's bend axis (a bend axis has
# length sin(bend angle)), so below ~5 degrees of bend the parent's frame decides the twist.
_STRAIGHT_LIMB_WEIGHT = 0.1
# Weight of the parent-derived reference added to every other cue: only matters when a cue
# degenerates (e.g. toe along the shin), and turns the twist by ~1e-4 rad otherwise.
_FALLBACK_WEIGHT = 1e-4


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frame [..., 3, 3] with columns (primary, secondary made orthogonal, cross)."""
    a = _unit(primary)
    b = _unit(secondary - np.sum(secondary * a, axis=-1, keepdims=True) * a)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def _apply(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", matrix, vector)


def _cues(points: np.ndarray, joint: int) -> tuple[np.ndarray, np.ndarray]:
    """Primary and secondary cue vectors of `joint` from joint positions [..., 22, 3].

    Limb joints are not handled here: their secondary cue needs the parent's solved frame.
    """
    def bone(a, b):
        return points[..., b, :] - points[..., a, :]

    hips_across = _unit(bone(RIGHT_HIP, LEFT_HIP))
    collars_across = _unit(bone(RIGHT_COLLAR, LEFT_COLLAR))
    if joint == PELVIS:
        return hips_across, bone(PELVIS, SPINE1)
    if joint == SPINE3:
        return collars_across, bone(SPINE3, NECK)
    if joint == SPINE1:
        return bone(SPINE1, SPINE2), (2 * hips_across + collars_across) / 3
    if joint == SPINE2:
        return bone(SPINE2, SPINE3), (hips_across + 2 * collars_across) / 3
    if joint == NECK:
        return bone(NECK, HEAD), collars_across
    if joint in _ANKLES:
        toe, knee = _ANKLES[joint]
        return bone(joint, toe), bone(joint, knee)
    child = PARENTS.index(joint)  # collars: one child, no twist cue
    return bone(joint, child), np.zeros_like(points[..., 0, :])


def _rest_frames(skeleton: Skeleton) -> np.ndarray:
    """Rest frame of every joint with a bone of its own: [22, 3, 3] (identity for leaves)."""
    rest = skeleton.rest_positions()
    frames = np.tile(np.eye(3), (JOINT_COUNT, 1, 1))
    for joint in range(JOINT_COUNT):
        if joint in _LIMB_OF_JOINT:
            upper, middle, end, bend_axis = _LIMB_OF_JOINT[joint]
            child = middle if joint == upper else end
            frames[joint] = _frame(rest[child] - rest[joint], np.array(bend_axis))
        elif joint in PARENTS:
            primary, secondary = _cues(rest, joint)
            if not np.any(secondary):  # collars: any axis across the bone will do at rest
                secondary = np.cross(primary, [0.0, 0.0, 1.0])
            frames[joint] = _frame(primary, secondary)
    return frames


def _check_positions(positions) -> np.ndarray:
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (JOINT_COUNT, 3) or len(positions) == 0:
        raise ValueError(f"positions must be [frames, {JOINT_COUNT}, 3], got shape {positions.shape}")
    if not np.all(np.isfinite(positions)):
        raise ValueError("positions contain NaN or inf")
    bones = np.linalg.norm(positions[:, 1:] - positions[:, list(PARENTS[1:])], axis=-1)
    if np.any(bones < 1e-9):
        frame, bone = np.argwhere(bones < 1e-9)[0]
        raise ValueError(
            f"positions: joint {JOINT_NAMES[bone + 1]!r} coincides with its parent at frame {frame}"
        )
    return positions


def _check_skeleton(skeleton: Skeleton) -> None:
    if skeleton.parents != PARENTS:
        raise ValueError(
            f"IK works on the 22-joint SMPL-order skeleton (parents {PARENTS}), got {skeleton.parents}"
        )


def _limb_bend_axis(positions, limb, reference) -> np.ndarray:
    """Bend axis of a limb [T, 3], steadied where the limb is (nearly) straight.

    Near straight the bend direction is noise and may point backwards (hyperextension); there
    we flip it towards `reference` (the parent-derived axis) and fade the reference in, so the
    upper segment never spins 180 degrees. Limbs bent more than ~17 degrees use their true axis.
    """
    upper, middle, end, _ = limb
    bend = np.cross(_unit(positions[:, middle] - positions[:, upper]),
                    _unit(positions[:, end] - positions[:, middle]))
    sine = np.linalg.norm(bend, axis=-1, keepdims=True)
    agreement = np.sum(bend * reference, axis=-1, keepdims=True) / np.maximum(sine, 1e-12)
    straightness = np.clip((0.5 - sine) / 0.25, 0.0, 1.0)
    backwards = np.clip(-agreement / 0.2, 0.0, 1.0)
    reference_weight = _STRAIGHT_LIMB_WEIGHT * np.clip((0.3 - sine) / 0.3, 0.0, 1.0) + 1e-9
    return (1.0 - 2.0 * straightness * backwards) * bend + reference_weight * reference


def solve_ik(positions, skeleton: Skeleton | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions [T, 22, 3] -> (local rotations [T, 22, 4] w-x-y-z, root translation [T, 3]).

    The skeleton's offsets are the rest pose (default: DEFAULT_REST_OFFSETS); its bone lengths
    are used as they are, so pass skeleton_from_positions(positions) to match the input.
    """
    positions = _check_positions(positions)
    skeleton = Skeleton.default() if skeleton is None else skeleton
    _check_skeleton(skeleton)
    rest_frames = _rest_frames(skeleton)
    frames = len(positions)

    global_matrices = np.empty((frames, JOINT_COUNT, 3, 3))
    bend_axes = {}
    for joint in range(JOINT_COUNT):
        parent = PARENTS[joint]
        parent_matrix = global_matrices[:, parent] if parent >= 0 else np.tile(np.eye(3), (frames, 1, 1))
        if joint not in PARENTS:  # leaf: no bone of its own to orient
            global_matrices[:, joint] = parent_matrix
            continue
        if joint in _LIMB_OF_JOINT:
            upper, middle, end, _ = limb = _LIMB_OF_JOINT[joint]
            child = middle if joint == upper else end
            primary = positions[:, child] - positions[:, joint]
        else:
            primary, secondary = _cues(positions, joint)

        # Least-twist reference: the parent's frame carried along, swung onto the bone.
        rest_primary, rest_secondary = rest_frames[joint, :, 0], rest_frames[joint, :, 1]
        swing = quat.between(_apply(parent_matrix, rest_primary), primary)
        reference = quat.rotate(swing, _apply(parent_matrix, rest_secondary))

        if joint in _LIMB_OF_JOINT:
            if joint == upper:
                bend_axes[upper] = _limb_bend_axis(positions, limb, reference)
            secondary = bend_axes[upper]
        else:
            # A small share of the reference keeps a degenerate cue finite; joints placing
            # several children take almost none, so they still place them exactly.
            weight = 1e-9 if joint in _MULTI_CHILD_JOINTS else _FALLBACK_WEIGHT
            secondary = secondary + weight * reference
        global_matrices[:, joint] = _frame(primary, secondary) @ rest_frames[joint].T

    parents = [max(p, 0) for p in PARENTS]
    local_matrices = np.swapaxes(global_matrices[:, parents], -1, -2) @ global_matrices
    local_matrices[:, 0] = global_matrices[:, 0]
    rotations = quat.make_continuous(quat.from_matrix(local_matrices), axis=0)
    return rotations, positions[:, 0] - skeleton.offsets[0]


def skeleton_from_positions(positions) -> Skeleton:
    """A skeleton that fits the input: median bone lengths, and for the pelvis and spine3 (the
    joints with several children) the median layout of their children measured in their own
    frames. Other bones point the way DEFAULT_REST_OFFSETS do (T-pose)."""
    positions = _check_positions(positions)
    parents = list(PARENTS[1:])
    lengths = np.median(np.linalg.norm(positions[:, 1:] - positions[:, parents], axis=-1), axis=0)
    offsets = np.zeros((JOINT_COUNT, 3))
    offsets[1:] = _unit(DEFAULT_REST_OFFSETS[1:]) * lengths[:, None]
    for joint in _MULTI_CHILD_JOINTS:
        frame = _frame(*_cues(positions, joint))  # [T, 3, 3]
        for child in (c for c, p in enumerate(PARENTS) if p == joint):
            local = np.einsum("tji,tj->ti", frame, positions[:, child] - positions[:, joint])
            offsets[child] = _unit(np.median(local, axis=0)) * lengths[child - 1]
    return Skeleton(JOINT_NAMES, PARENTS, offsets)
