"""Reading a posed rig back onto our skeleton: joint positions in model space.

The inverse of retarget.py for regenerating a range: each mapped bone's posed world rotation W
gives its joint's source world rotation G' = W @ A^T (A from the binding), joints without a bone
turn with their parent, and forward kinematics on the source skeleton (its own bone lengths)
places the joints; the hips bone's head gives the pelvis through the inverse of the root mapping.
So whatever the rig's proportions, the positions come back in the skeleton's.
"""

import numpy as np

from .retarget import Binding


def read_back(binding: Binding, posed_matrices) -> np.ndarray:
    """Posed armature-space matrices [T, M, 4, 4] of the binding's mapped bones (in the order of
    `binding.mapped_bone_names`; bpy's `pose_bone.matrix`) -> joint positions [T, J, 3]."""
    posed = np.asarray(posed_matrices, dtype=np.float64)
    frames, mapped = posed.shape[0], len(binding.bones)
    if posed.shape != (frames, mapped, 4, 4):
        raise ValueError(f"read_back: posed matrices must be [T, {mapped}, 4, 4], got {posed.shape}")
    turn = binding.model_to_armature
    mapped_world = turn.T @ posed[:, :, :3, :3] @ np.swapaxes(binding.alignments, -1, -2) @ turn

    joints = len(binding.joint_names)
    world = np.empty((frames, joints, 3, 3))
    slot = {joint: m for m, joint in enumerate(binding.joints)}
    positions = np.empty((frames, joints, 3))
    hips_heads = posed[:, 0, :3, 3]  # the pelvis is always mapped, and first
    positions[:, 0] = binding.source_stand + (hips_heads - binding.target_stand) @ turn / binding.scale
    for joint in range(joints):
        parent = binding.parents[joint]
        world[:, joint] = mapped_world[:, slot[joint]] if joint in slot else world[:, parent]
        if parent >= 0:
            positions[:, joint] = positions[:, parent] + world[:, parent] @ binding.rest_offsets[joint]
    return positions
