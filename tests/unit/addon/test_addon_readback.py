"""Reading a posed rig back onto our skeleton: the round trip through a retarget."""

import numpy as np
import pytest
from addon_rigs import (
    posed_matrices,
    rigify_metarig,
    skeleton_rig,
    synth_motion,
    walk_motion,
)

from addon import bone_maps
from addon.readback import read_back
from addon.retarget import bind, retarget


def round_trip(rig, motion, in_place=False):
    binding = bind(rig, bone_maps.build_mapping(rig.bone_names), motion.joint_names, motion.parents,
                   motion.rest_offsets)
    keys = retarget(binding, motion.rotations, motion.root_translation, in_place=in_place)
    posed = posed_matrices(rig, keys)[:, binding.bones]
    assert [rig.bone_names[b] for b in binding.bones] == binding.mapped_bone_names
    return read_back(binding, posed)


@pytest.mark.parametrize("make_motion", [lambda: walk_motion(turns=1.0), lambda: synth_motion(3)],
                         ids=["turning walk", "synth clip"])
def test_rigify_round_trip_gives_the_motions_positions(make_motion):
    motion = make_motion()
    # The rig's proportions differ; the positions come back in the skeleton's own.
    back = round_trip(rigify_metarig(), motion)
    assert np.abs(back - motion.positions).max() < 1e-4  # float32 rest matrices in the fixture


def test_own_skeleton_round_trip_is_exact_and_scale_free():
    motion = synth_motion(4)
    back = round_trip(skeleton_rig(motion.rest_offsets, seed=3, scale=0.5), motion)
    np.testing.assert_allclose(back, motion.positions, atol=1e-9)


def test_in_place_comes_back_without_horizontal_travel():
    motion = walk_motion()
    back = round_trip(skeleton_rig(motion.rest_offsets, seed=4), motion, in_place=True)
    local = motion.positions - motion.positions[:, :1] * np.array([1.0, 0.0, 1.0])
    stand = back[:, :1] * np.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(back - stand, local, atol=1e-9)
    assert np.ptp(back[:, 0, 0]) < 1e-9 and np.ptp(back[:, 0, 2]) < 1e-9


def test_posed_matrices_must_match_the_mapped_bones():
    motion = walk_motion(frames=10)
    rig = skeleton_rig(motion.rest_offsets)
    binding = bind(rig, bone_maps.build_mapping(rig.bone_names), motion.joint_names, motion.parents,
                   motion.rest_offsets)
    with pytest.raises(ValueError, match="posed matrices must be"):
        read_back(binding, np.zeros((10, 21, 4, 4)))
