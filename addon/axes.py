"""The one conversion between model space and Blender space.

Model space (the backend's): metres, Y up, the character faces +Z, its left is +X.
Blender space: Z up, the character faces -Y, its left is +X. The two differ by a quarter turn
about X: model (x, y, z) is Blender (x, -z, y).

Armatures are usually built in Blender space, but not all: an FBX import from Mixamo keeps its
armature data Y up and turns the object instead. `model_to_armature` also takes which way a
rig's rest pose stands, so the motion plays in the character's own frame.
"""

import numpy as np

from . import quaternion as quat

# Columns: where model +X (left), +Y (up) and +Z (forward) land in Blender space.
MODEL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
# The same quarter turn about X as a quaternion (w, x, y, z).
_MODEL_TO_BLENDER_Q = np.array([np.sqrt(0.5), np.sqrt(0.5), 0.0, 0.0])


def positions_to_blender(positions) -> np.ndarray:
    """Model-space points or directions [..., 3] -> Blender space."""
    return np.asarray(positions, dtype=np.float64) @ MODEL_TO_BLENDER.T


def positions_to_model(positions) -> np.ndarray:
    """Blender-space points or directions [..., 3] -> model space."""
    return np.asarray(positions, dtype=np.float64) @ MODEL_TO_BLENDER


def rotations_to_blender(rotations) -> np.ndarray:
    """Model-space rotations (w, x, y, z) [..., 4] -> the same rotations seen in Blender space."""
    return quat.multiply(quat.multiply(_MODEL_TO_BLENDER_Q, rotations), quat.inverse(_MODEL_TO_BLENDER_Q))


def rotations_to_model(rotations) -> np.ndarray:
    """Blender-space rotations (w, x, y, z) [..., 4] -> model space."""
    return quat.multiply(quat.multiply(quat.inverse(_MODEL_TO_BLENDER_Q), rotations), _MODEL_TO_BLENDER_Q)


def model_to_armature(up, left) -> np.ndarray:
    """Rotation [3, 3] from model space to a rig's armature space.

    `up` and `left` are the character's up and left measured on its rest pose in armature space
    (e.g. pelvis to shoulders, right hip to left hip). For rigs built in Blender this is
    MODEL_TO_BLENDER; a Y-up Mixamo import gets the identity. The rig's axes are snapped to the
    nearest coordinate axes, so a leaning or slightly turned rest pose does not tilt the motion.
    """
    up_axis = _nearest_axis(up, exclude=None)
    left_axis = _nearest_axis(left, exclude=up_axis)
    forward_axis = np.cross(left_axis, up_axis)  # left x up = forward, in both spaces
    # Columns: where Blender's left (+X), backward (+Y) and up (+Z) land in armature space.
    blender_to_armature = np.stack([left_axis, -forward_axis, up_axis], axis=-1)
    return blender_to_armature @ MODEL_TO_BLENDER


def _nearest_axis(vector, exclude) -> np.ndarray:
    """The signed coordinate axis closest to `vector`, skipping the axis of `exclude`."""
    vector = np.asarray(vector, dtype=np.float64)
    if exclude is not None:
        vector = vector * (1.0 - np.abs(exclude))
    index = int(np.argmax(np.abs(vector)))
    if not np.isfinite(vector[index]) or vector[index] == 0.0:
        raise ValueError(f"cannot tell a direction from the vector {vector.tolist()}")
    axis = np.zeros(3)
    axis[index] = np.sign(vector[index])
    return axis
