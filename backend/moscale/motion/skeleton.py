"""The 22-joint SMPL-order skeleton of HumanML3D and forward kinematics on it.

Model space: metres, Y up, the character faces +Z at rest (its left side is +X), 20 fps.
Rotations are local, unit (w, x, y, z) quaternions in the usual BVH convention: joint j's global
rotation G[j] = G[parent] * L[j], and the bone to child c is G[j] applied to offsets[c].
"""

from dataclasses import dataclass

import numpy as np

from . import quaternion as quat

FPS = 20.0

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
JOINT_COUNT = len(JOINT_NAMES)

# HumanML3D's t2m_kinematic_chain: right leg, left leg, spine, right arm, left arm.
KINEMATIC_CHAINS = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)

# HumanML3D's t2m_raw_offsets: the unit direction of each bone in the canonical pose its naive IK
# (and so the 263-d rotation slice) is relative to. Note the arms hang down (-Y) and the head bone
# points forward (+Z) there; our own rest pose (DEFAULT_REST_OFFSETS) is a T-pose instead.
RAW_OFFSET_DIRECTIONS = np.array(
    [
        [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0],
        [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0],
        [-1, 0, 0], [0, 0, 1], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
        [0, -1, 0],
    ],
    dtype=np.float64,
)

LEFT_HIP, RIGHT_HIP = 1, 2
LEFT_KNEE, RIGHT_KNEE = 4, 5
LEFT_ANKLE, RIGHT_ANKLE = 7, 8
LEFT_FOOT, RIGHT_FOOT = 10, 11
LEFT_COLLAR, RIGHT_COLLAR = 13, 14
LEFT_SHOULDER, RIGHT_SHOULDER = 16, 17
# Column order of foot contacts everywhere (features [259:263], Motion.foot_contacts).
FOOT_CONTACT_JOINTS = (LEFT_ANKLE, LEFT_FOOT, RIGHT_ANKLE, RIGHT_FOOT)
# HumanML3D's face_joint_indx: right hip, left hip, right shoulder, left shoulder.
FACE_JOINTS = (RIGHT_HIP, LEFT_HIP, RIGHT_SHOULDER, LEFT_SHOULDER)

# Rest pose in metres: a T-pose (arms along +-X, legs down, feet forward, head up).
# Where the numbers come from: HumanML3D's exact template (frame 0 of sample 000021) was not
# reachable here, so these are the joint offsets of the SMPL rest pose (SMPL's template joint
# locations, male model, as printed in KosukeFukazawa/smpl2bvh issue #8), made left/right
# symmetric and rounded to millimetres; the arm joints use typical SMPL proportions. Standing,
# the pelvis is ~0.95 m above the lowest joint and the figure is ~1.7 m tall, as in HumanML3D.
DEFAULT_REST_OFFSETS = np.array(
    [
        [0.000, 0.000, 0.000],     # pelvis (root)
        [0.059, -0.086, -0.016],   # left_hip
        [-0.059, -0.086, -0.016],  # right_hip
        [0.000, 0.124, -0.038],    # spine1
        [0.043, -0.385, 0.002],    # left_knee
        [-0.043, -0.385, 0.002],   # right_knee
        [0.000, 0.138, 0.027],     # spine2
        [-0.017, -0.423, -0.036],  # left_ankle
        [0.017, -0.423, -0.036],   # right_ankle
        [0.000, 0.056, 0.003],     # spine3
        [0.038, -0.061, 0.126],    # left_foot
        [-0.038, -0.061, 0.126],   # right_foot
        [0.000, 0.212, -0.034],    # neck
        [0.072, 0.114, -0.019],    # left_collar
        [-0.072, 0.114, -0.019],   # right_collar
        [0.000, 0.085, 0.050],     # head
        [0.110, 0.040, -0.010],    # left_shoulder
        [-0.110, 0.040, -0.010],   # right_shoulder
        [0.260, 0.000, -0.020],    # left_elbow
        [-0.260, 0.000, -0.020],   # right_elbow
        [0.250, 0.000, 0.000],     # left_wrist
        [-0.250, 0.000, 0.000],    # right_wrist
    ]
)

# HumanML3D's template skeleton for feature extraction: its raw directions with our bone lengths.
TEMPLATE_OFFSETS = RAW_OFFSET_DIRECTIONS * np.linalg.norm(DEFAULT_REST_OFFSETS, axis=-1)[:, None]


@dataclass(frozen=True)
class Skeleton:
    """Joint names, parent indices (parents before children) and rest offsets [J, 3] in metres."""

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray  # [J, 3]; offsets[0] is added to the root translation

    def __post_init__(self):
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        object.__setattr__(self, "offsets", np.asarray(self.offsets, dtype=np.float64))
        count = len(self.joint_names)
        if len(self.parents) != count or self.offsets.shape != (count, 3):
            raise ValueError(
                f"Skeleton needs one parent and one offset per joint: {count} names, "
                f"{len(self.parents)} parents, offsets of shape {self.offsets.shape}"
            )
        if count == 0 or self.parents[0] != -1:
            raise ValueError("Skeleton: joint 0 must be the root (parent -1)")
        if any(not 0 <= p < j for j, p in enumerate(self.parents) if j > 0):
            raise ValueError(f"Skeleton: every parent must come before its child, got {self.parents}")
        if not np.all(np.isfinite(self.offsets)):
            raise ValueError("Skeleton: offsets contain NaN or inf")

    @classmethod
    def default(cls) -> "Skeleton":
        return cls(JOINT_NAMES, PARENTS, DEFAULT_REST_OFFSETS)

    @property
    def joint_count(self) -> int:
        return len(self.joint_names)

    @property
    def bone_lengths(self) -> np.ndarray:
        """Length of the bone from each joint's parent to it, [J]; 0 for the root."""
        lengths = np.linalg.norm(self.offsets, axis=-1)
        lengths[0] = 0.0
        return lengths

    def children(self, joint: int) -> list[int]:
        return [j for j, p in enumerate(self.parents) if p == joint]

    def rest_positions(self) -> np.ndarray:
        """Joint positions of the rest pose with the root at offsets[0]: [J, 3]."""
        positions = np.zeros((self.joint_count, 3))
        positions[0] = self.offsets[0]
        for j in range(1, self.joint_count):
            positions[j] = positions[self.parents[j]] + self.offsets[j]
        return positions

    def global_rotations(self, local_rotations: np.ndarray) -> np.ndarray:
        """Local rotations [..., J, 4] -> global (model-space) rotations [..., J, 4]."""
        local_rotations = np.asarray(local_rotations, dtype=np.float64)
        global_rotations = np.empty_like(local_rotations)
        global_rotations[..., 0, :] = local_rotations[..., 0, :]
        for j in range(1, self.joint_count):
            parent = global_rotations[..., self.parents[j], :]
            global_rotations[..., j, :] = quat.multiply(parent, local_rotations[..., j, :])
        return global_rotations

    def forward_kinematics(self, local_rotations: np.ndarray, root_translation: np.ndarray) -> np.ndarray:
        """Local rotations [..., J, 4] and root translation [..., 3] -> positions [..., J, 3]."""
        local_rotations = np.asarray(local_rotations, dtype=np.float64)
        root_translation = np.asarray(root_translation, dtype=np.float64)
        if local_rotations.shape[-2:] != (self.joint_count, 4):
            raise ValueError(
                f"forward_kinematics: rotations must be [..., {self.joint_count}, 4], "
                f"got {local_rotations.shape}"
            )
        global_rotations = self.global_rotations(local_rotations)
        positions = np.empty(local_rotations.shape[:-1] + (3,))
        positions[..., 0, :] = root_translation + self.offsets[0]
        for j in range(1, self.joint_count):
            parent = self.parents[j]
            bone = quat.rotate(global_rotations[..., parent, :], self.offsets[j])
            positions[..., j, :] = positions[..., parent, :] + bone
        return positions
