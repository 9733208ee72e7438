"""HumanML3D's 263-d motion features: extraction from joint positions and recovery back.

Layout per frame (frame t describes the step t -> t+1, so N poses give N-1 feature frames):
root yaw velocity (1) | root XZ velocity in the heading frame (2) | root height (1) |
RIC: joints 1..21 relative to the root, heading removed (63) | 6-D rotations of joints 1..21 from
HumanML3D's naive IK (126) | velocities of all 22 joints in the heading frame (66) | foot contacts (4).

Extraction follows HumanML3D's `process_file` step by step, including its quirks (the IK's
forward vector adds the hip vector left-minus-right but the shoulder vector right-minus-left, and is
smoothed with a Gaussian of sigma 20 frames). One deliberate deviation: HumanML3D takes
arcsin(y) of r[t+1] * r[t]^-1 with raw quaternion signs, which gets the sign of the yaw velocity
wrong on the frame where the heading crosses 180 degrees; we make the heading quaternions
sign-continuous first, so turning on the spot round-trips.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import quaternion as quat
from .skeleton import (
    FACE_JOINTS, FOOT_CONTACT_JOINTS, JOINT_COUNT, KINEMATIC_CHAINS, PARENTS,
    RAW_OFFSET_DIRECTIONS, RIGHT_ANKLE, RIGHT_KNEE, TEMPLATE_OFFSETS,
)

FEATURE_DIM = 263
ROOT_YAW_VEL = slice(0, 1)
ROOT_XZ_VEL = slice(1, 3)
ROOT_Y = slice(3, 4)
RIC = slice(4, 4 + (JOINT_COUNT - 1) * 3)                  # 4:67
ROT6D = slice(RIC.stop, RIC.stop + (JOINT_COUNT - 1) * 6)  # 67:193
LOCAL_VEL = slice(ROT6D.stop, ROT6D.stop + JOINT_COUNT * 3)  # 193:259
FOOT_CONTACT = slice(LOCAL_VEL.stop, LOCAL_VEL.stop + 4)   # 259:263

# HumanML3D's foot_detect threshold: squared displacement per 20-fps frame, in m^2.
FOOT_CONTACT_THRESHOLD = 0.002
# HumanML3D smooths the IK's forward direction with gaussian_filter1d(sigma=20, truncate=4).
_FORWARD_SMOOTHING_SIGMA = 20.0


def _check_positions(positions) -> np.ndarray:
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (JOINT_COUNT, 3) or len(positions) < 2:
        raise ValueError(
            f"positions must be [frames >= 2, {JOINT_COUNT}, 3], got shape {positions.shape}"
        )
    if not np.all(np.isfinite(positions)):
        raise ValueError("positions contain NaN or inf")
    return positions


def foot_contacts(positions: np.ndarray, threshold: float = FOOT_CONTACT_THRESHOLD) -> np.ndarray:
    """HumanML3D's foot_detect: [N, 22, 3] -> [N-1, 4] bool (l_ankle, l_foot, r_ankle, r_foot).

    A joint is in contact for step t -> t+1 when its squared displacement is below `threshold`.
    """
    feet = positions[:, list(FOOT_CONTACT_JOINTS)]
    return np.sum((feet[1:] - feet[:-1]) ** 2, axis=-1) < threshold


def _yaw_to_face_forward(forward: np.ndarray) -> np.ndarray:
    """Yaw quaternions turning horizontal `forward` [..., 3] onto +Z; w >= 0 like qbetween."""
    angle = np.arctan2(forward[..., 0], forward[..., 2])
    zeros = np.zeros_like(angle)
    return np.stack([np.cos(angle / 2), zeros, -np.sin(angle / 2), zeros], axis=-1)


def _gaussian_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """scipy.ndimage.gaussian_filter1d(values, sigma, axis=0, mode='nearest') in numpy."""
    radius = int(4.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * offsets**2 / sigma**2)
    kernel /= kernel.sum()
    padded = np.pad(values, [(radius, radius)] + [(0, 0)] * (values.ndim - 1), mode="edge")
    flat = padded.reshape(len(padded), -1)
    smoothed = np.stack([np.convolve(flat[:, i], kernel, mode="valid") for i in range(flat.shape[1])], -1)
    return smoothed.reshape(values.shape)


def _naive_ik(positions: np.ndarray) -> np.ndarray:
    """HumanML3D's Skeleton.inverse_kinematics_np(smooth_forward=True): [N, 22, 3] -> [N, 22, 4].

    Each bone gets the swing from its raw direction to the observed direction, expressed relative
    to the accumulated swings of its chain; every chain restarts from the root rotation.
    """
    right_hip, left_hip, right_shoulder, left_shoulder = FACE_JOINTS
    # HumanML3D unpacks face_joint_indx as (l_hip, r_hip, ...), so the hip term is left - right.
    across = (positions[:, left_hip] - positions[:, right_hip]) + (
        positions[:, right_shoulder] - positions[:, left_shoulder]
    )
    across /= np.linalg.norm(across, axis=-1, keepdims=True)
    forward = np.cross([0.0, 1.0, 0.0], across)
    forward = _gaussian_smooth(forward, _FORWARD_SMOOTHING_SIGMA)
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    root = _yaw_to_face_forward(forward)

    rotations = np.zeros(positions.shape[:-1] + (4,))
    rotations[:, 0] = root
    for chain in KINEMATIC_CHAINS:
        accumulated = root
        for parent, child in zip(chain[:-1], chain[1:]):
            swing = quat.between(RAW_OFFSET_DIRECTIONS[child], positions[:, child] - positions[:, parent])
            local = quat.multiply(quat.conjugate(accumulated), swing)
            rotations[:, child] = local
            accumulated = quat.multiply(accumulated, local)
    return rotations


def retarget_to_template(positions: np.ndarray) -> np.ndarray:
    """HumanML3D's uniform_skeleton: keep every bone's direction, give it the template's length.

    Their IK + FK round trip reduces exactly to this; the root trajectory is scaled by the ratio
    of the template's right-leg length (knee + ankle bones) to the input's at frame 0.
    """
    positions = _check_positions(positions)
    lengths = np.linalg.norm(TEMPLATE_OFFSETS, axis=-1)
    source_leg = sum(
        np.linalg.norm(positions[0, j] - positions[0, PARENTS[j]]) for j in (RIGHT_KNEE, RIGHT_ANKLE)
    )
    scale = (lengths[RIGHT_KNEE] + lengths[RIGHT_ANKLE]) / source_leg
    result = np.empty_like(positions)
    result[:, 0] = positions[:, 0] * scale
    for j in range(1, JOINT_COUNT):
        bone = positions[:, j] - positions[:, PARENTS[j]]
        bone /= np.linalg.norm(bone, axis=-1, keepdims=True)
        result[:, j] = result[:, PARENTS[j]] + lengths[j] * bone
    return result


def _place_and_face(positions: np.ndarray) -> np.ndarray:
    """process_file: floor at y = 0, root XZ at the origin at frame 0, frame-0 facing to +Z."""
    positions = positions.copy()
    positions[..., 1] -= positions[..., 1].min()
    positions -= positions[0, 0] * np.array([1.0, 0.0, 1.0])
    right_hip, left_hip, right_shoulder, left_shoulder = FACE_JOINTS
    first = positions[0]
    across = (first[right_hip] - first[left_hip]) + (first[right_shoulder] - first[left_shoulder])
    forward = np.cross([0.0, 1.0, 0.0], across)
    return quat.rotate(_yaw_to_face_forward(forward), positions)


@dataclass(frozen=True)
class Extraction:
    features: np.ndarray    # [N-1, 263]
    recovered: np.ndarray   # [N, 22, 3] the poses in the frame recover_from_ric returns them


def extract(positions, retarget: bool = True, foot_threshold: float = FOOT_CONTACT_THRESHOLD) -> Extraction:
    """Features and canonical poses from one pass (extract_features and canonicalize in one)."""
    positions = _check_positions(positions)
    if retarget:
        positions = retarget_to_template(positions)
    global_positions = _place_and_face(positions)
    contacts = foot_contacts(global_positions, foot_threshold)

    ik_rotations = _naive_ik(global_positions)
    heading = quat.make_continuous(ik_rotations[:, 0])  # [N, 4], pure yaw
    per_joint_heading = np.repeat(heading[:, None], JOINT_COUNT, axis=1)

    root_velocity = quat.rotate(heading[1:], global_positions[1:, 0] - global_positions[:-1, 0])
    yaw_step = quat.multiply(heading[1:], quat.conjugate(heading[:-1]))
    yaw_velocity = np.arcsin(np.clip(yaw_step[:, 2:3], -1.0, 1.0))

    local = global_positions.copy()
    local[..., [0, 2]] -= global_positions[:, :1, [0, 2]]
    ric = quat.rotate(per_joint_heading, local)
    rot6d = quat.to_cont6d(ik_rotations[:, 1:])
    local_velocity = quat.rotate(per_joint_heading[:-1], global_positions[1:] - global_positions[:-1])

    frames = len(global_positions) - 1
    features = np.concatenate(
        [
            yaw_velocity,
            root_velocity[:, [0, 2]],
            ric[:-1, 0, 1:2],
            ric[:-1, 1:].reshape(frames, -1),
            rot6d[:-1].reshape(frames, -1),
            local_velocity.reshape(frames, -1),
            contacts.astype(np.float64),
        ],
        axis=-1,
    )
    # Recovery starts its heading at identity, so it returns the motion turned by heading[0].
    recovered = quat.rotate(heading[:1, None], global_positions)
    return Extraction(features, recovered)


def extract_features(
    positions, *, retarget: bool = True, foot_threshold: float = FOOT_CONTACT_THRESHOLD
) -> np.ndarray:
    """Joint positions [N, 22, 3] (metres, Y up) -> HumanML3D features [N-1, 263] (float64).

    retarget=True first re-proportions the skeleton to the template (HumanML3D's
    uniform_skeleton); pass False for motions already on the template, e.g. our own output.
    """
    return extract(positions, retarget, foot_threshold).features


def canonicalize(positions, *, retarget: bool = True) -> np.ndarray:
    """The poses [N, 22, 3] that recover_from_ric(extract_features(positions)) reproduces.

    That is the input retargeted (optionally), put on the floor, centred and faced to +Z at
    frame 0 as in HumanML3D, then turned by the smoothed IK heading of frame 0 (HumanML3D's
    recovery starts from zero heading, so its new_joints carry that same turn).
    """
    return extract(positions, retarget).recovered


def _qrot32(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The reference qrot, same operations in the same order, in the inputs' precision."""
    xyz = q[..., 1:]
    uv = np.cross(xyz, v)
    uuv = np.cross(xyz, uv)
    return v + 2 * (q[..., :1] * uv + uuv)


def _cumsum_like_torch(values: np.ndarray, axis: int) -> np.ndarray:
    """float32 cumulative sum accumulated in float64, as torch's CPU cumsum does for float32."""
    return np.cumsum(values, axis=axis, dtype=np.float64).astype(np.float32)


def recover_root(features) -> tuple[np.ndarray, np.ndarray]:
    """Root heading quaternions [..., T, 4] and root positions [..., T, 3] (float32).

    The heading is the exclusive cumulative sum of channel 0 used as a half-angle about Y; the
    root XZ integrates the previous frame's velocity turned back by the inverse heading.
    """
    features = np.asarray(features, dtype=np.float32)
    yaw_velocity = features[..., 0]
    half_angle = np.zeros_like(yaw_velocity)
    half_angle[..., 1:] = yaw_velocity[..., :-1]
    half_angle = _cumsum_like_torch(half_angle, axis=-1)

    heading = np.zeros(features.shape[:-1] + (4,), dtype=np.float32)
    heading[..., 0] = np.cos(half_angle)
    heading[..., 2] = np.sin(half_angle)
    inverse_heading = heading * np.array([1, -1, -1, -1], dtype=np.float32)

    root = np.zeros(features.shape[:-1] + (3,), dtype=np.float32)
    root[..., 1:, 0] = features[..., :-1, 1]
    root[..., 1:, 2] = features[..., :-1, 2]
    root = _cumsum_like_torch(_qrot32(inverse_heading, root), axis=-2)
    root[..., 1] = features[..., 3]
    return heading, root


def recover_from_ric(features) -> np.ndarray:
    """HumanML3D features [..., T, 263] -> joint positions [..., T, 22, 3] (float32).

    Same operations as the reference recover_from_ric, so outputs match its float32 results.
    """
    features = np.asarray(features, dtype=np.float32)
    if features.shape[-1] != FEATURE_DIM:
        raise ValueError(f"features must end in {FEATURE_DIM} channels, got shape {features.shape}")
    heading, root = recover_root(features)
    local = features[..., RIC].reshape(features.shape[:-1] + (JOINT_COUNT - 1, 3))
    inverse_heading = heading * np.array([1, -1, -1, -1], dtype=np.float32)
    joints = _qrot32(np.broadcast_to(inverse_heading[..., None, :], local.shape[:-1] + (4,)), local)
    joints[..., 0] += root[..., None, 0]
    joints[..., 2] += root[..., None, 2]
    return np.concatenate([root[..., None, :], joints], axis=-2)


class Normalizer:
    """Per-channel z-score of the 263-d features with a dataset's mean and std."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if self.mean.shape != (FEATURE_DIM,) or self.std.shape != (FEATURE_DIM,):
            raise ValueError(
                f"Normalizer needs mean and std of shape ({FEATURE_DIM},), "
                f"got {self.mean.shape} and {self.std.shape}"
            )
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ValueError("Normalizer: mean must be finite and std finite and positive")

    @classmethod
    def load(cls, directory, mean_name: str = "Mean.npy", std_name: str = "Std.npy") -> "Normalizer":
        """Read HumanML3D-style Mean.npy / Std.npy from a directory (no pickle)."""
        directory = Path(directory)
        paths = [directory / mean_name, directory / std_name]
        for path in paths:
            if not path.is_file():
                raise FileNotFoundError(f"Normalisation statistics not found: {path}")
        return cls(*(np.load(path, allow_pickle=False) for path in paths))

    def normalize(self, features) -> np.ndarray:
        return (np.asarray(features, dtype=np.float32) - self.mean) / self.std

    def denormalize(self, normalized) -> np.ndarray:
        return np.asarray(normalized, dtype=np.float32) * self.std + self.mean
