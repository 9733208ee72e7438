"""Retargeting fidelity, checked by forward kinematics of the posed rig (addon_rigs.posed_matrices)."""

import numpy as np
import pytest
from expected_geometry import blender_from_model
from addon_rigs import (
    AIM_CHILD,
    posed_matrices,
    rigify_metarig,
    skeleton_rig,
    synth_motion,
    walk_motion,
)
from moscale.motion.skeleton import JOINT_NAMES, PARENTS

from addon import bone_maps
from addon.retarget import bind, retarget
from addon.rig import Rig

LEAVES = [j for j in range(len(JOINT_NAMES)) if j not in PARENTS]


@pytest.fixture(scope="module")
def motions():
    return {"walk": walk_motion(), "turning walk": walk_motion(frames=160, turns=1.0, seed=3),
            "synth clip 0": synth_motion(0), "synth clip 1": synth_motion(1), "synth clip 2": synth_motion(2)}


def keys_for(rig, motion, in_place=False, **mapping_options):
    binding = bind(rig, bone_maps.build_mapping(rig.bone_names, **mapping_options),
                   motion.joint_names, motion.parents, motion.rest_offsets)
    return binding, retarget(binding, motion.rotations, motion.root_translation, in_place=in_place)


def joint_heads(rig, posed, mapping):
    """Posed heads of the bones mapped to our joints, [T, 22, 3]."""
    return posed[:, [rig.index(mapping[name]) for name in JOINT_NAMES]][..., :3, 3]


def posed_axis(rig, posed, bone):
    """Blender's posed bone direction (head to tail), [T, 3] unit."""
    rest_tail = np.linalg.inv(rig.matrices[bone]) @ np.append(rig.tails[bone], 1.0)
    tail = (posed[:, bone] @ rest_tail)[:, :3]
    axis = tail - posed[:, bone, :3, 3]
    return axis / np.linalg.norm(axis, axis=-1, keepdims=True)


def degrees_between(u, v):
    cosine = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def aim_joint(joint):
    name = JOINT_NAMES[joint]
    if name in AIM_CHILD:
        return JOINT_NAMES.index(AIM_CHILD[name])
    return PARENTS.index(joint)


@pytest.mark.parametrize("name", ["walk", "turning walk", "synth clip 0", "synth clip 1", "synth clip 2"])
@pytest.mark.parametrize("seed", [0, 1])
def test_own_skeleton_reproduces_the_joint_positions(motions, name, seed):
    motion = motions[name]
    rig = skeleton_rig(motion.rest_offsets, seed=seed)
    _, keys = keys_for(rig, motion)
    posed = posed_matrices(rig, keys)
    error = np.linalg.norm(joint_heads(rig, posed, dict(zip(JOINT_NAMES, JOINT_NAMES)))
                           - blender_from_model(motion.positions), axis=-1)
    assert error.max() < 1e-6  # the issue asks for 1 cm
    np.testing.assert_allclose(np.linalg.norm(keys.rotations, axis=-1), 1.0, atol=1e-12)
    assert np.all(np.sum(keys.rotations[1:] * keys.rotations[:-1], axis=-1) >= 0.0)  # no sign flips
    assert np.all(keys.rotations[0, :, 0] >= 0.0)
    assert keys.bone_names[0] == keys.root_bone == "pelvis" and keys.rest_bones == []


def test_scaled_rig_plays_the_motion_scaled_by_leg_length(motions):
    motion = motions["turning walk"]
    rig = skeleton_rig(motion.rest_offsets, seed=2, scale=2.0)
    binding, keys = keys_for(rig, motion)
    assert binding.scale == pytest.approx(2.0)
    heads = joint_heads(rig, posed_matrices(rig, keys), dict(zip(JOINT_NAMES, JOINT_NAMES)))
    np.testing.assert_allclose(heads, 2.0 * blender_from_model(motion.positions), atol=1e-6)


def test_y_up_centimetre_armature_of_an_fbx_import(motions):
    """Mixamo-style data: armature space Y up, facing +Z, in centimetres, bones named with a prefix."""
    motion = motions["walk"]
    y_up = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # Blender (x, y, z) -> (x, z, -y)
    rig = skeleton_rig(motion.rest_offsets, seed=4, scale=100.0, armature_turn=y_up, prefix="mixamorig:")
    _, keys = keys_for(rig, motion, preset="moscale")
    heads = joint_heads(rig, posed_matrices(rig, keys), {n: "mixamorig:" + n for n in JOINT_NAMES})
    expected = 100.0 * blender_from_model(motion.positions) @ y_up.T
    np.testing.assert_allclose(heads, expected, atol=1e-4)


def test_rest_pose_turned_about_the_vertical_still_faces_the_motions_way(motions):
    """The pelvis and chest match their left-right axis too, so a rest pose turned by 15 degrees
    plays the motion as it is, not turned (each bone is aimed on its own)."""
    motion = motions["synth clip 2"]
    angle = np.radians(15.0)
    turn = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1.0]])
    rig = skeleton_rig(motion.rest_offsets, seed=8, armature_turn=turn)
    _, keys = keys_for(rig, motion)
    heads = joint_heads(rig, posed_matrices(rig, keys), dict(zip(JOINT_NAMES, JOINT_NAMES)))
    np.testing.assert_allclose(heads, blender_from_model(motion.positions), atol=1e-6)


def test_tails_pointing_sideways_do_not_matter(motions):
    """An X-along-bone import leaves tails across the bone; directions come from the heads then."""
    motion = motions["synth clip 0"]
    straight = skeleton_rig(motion.rest_offsets, seed=5)
    bones = []
    for i, name in enumerate(straight.bone_names):
        head, matrix = straight.heads[i], straight.matrices[i]
        sideways = np.eye(4)
        sideways[:3, :3] = matrix[:3, :3] @ np.array([[0, 1.0, 0], [-1.0, 0, 0], [0, 0, 1.0]])  # Y -> old -X
        sideways[:3, 3] = head
        parent = straight.bone_names[straight.parents[i]] if straight.parents[i] >= 0 else None
        bones.append((name, parent, head, head + 0.1 * sideways[:3, 1], sideways))
    rig = Rig.from_bones("sideways", bones)
    _, keys = keys_for(rig, motion)
    heads = joint_heads(rig, posed_matrices(rig, keys), dict(zip(JOINT_NAMES, JOINT_NAMES)))
    np.testing.assert_allclose(heads, blender_from_model(motion.positions), atol=1e-6)


def test_in_between_bones_are_keyed_at_rest_and_keep_the_chain_whole(motions):
    """Split spine2 into two bones with an unmapped one in the middle, as extra spine bones are."""
    motion = motions["synth clip 1"]
    plain = skeleton_rig(motion.rest_offsets, seed=6)
    spine2, spine3 = plain.index("spine2"), plain.index("spine3")
    middle = 0.5 * (plain.heads[spine2] + plain.heads[spine3])
    bones = []
    for i, name in enumerate(plain.bone_names):
        parent = plain.bone_names[plain.parents[i]] if plain.parents[i] >= 0 else None
        tail = middle if i == spine2 else plain.tails[i]
        parent = "spine2_upper" if name == "spine3" else parent
        bones.append((name, parent, plain.heads[i], tail, plain.matrices[i]))
    upper = plain.matrices[spine2].copy()
    upper[:3, 3] = middle
    bones.append(("spine2_upper", "spine2", middle, plain.heads[spine3], upper))
    rig = Rig.from_bones("split spine", bones)
    _, keys = keys_for(rig, motion)
    assert keys.rest_bones == ["spine2_upper"]
    np.testing.assert_allclose(keys.rotations[:, keys.bone_names.index("spine2_upper")],
                               np.tile([1.0, 0, 0, 0], (motion.frame_count, 1)), atol=1e-9)
    heads = joint_heads(rig, posed_matrices(rig, keys), dict(zip(JOINT_NAMES, JOINT_NAMES)))
    np.testing.assert_allclose(heads, blender_from_model(motion.positions), atol=1e-6)


def test_in_place_removes_horizontal_root_motion_only(motions):
    motion = motions["turning walk"]
    rig = skeleton_rig(motion.rest_offsets, seed=7)
    _, moving = keys_for(rig, motion)
    _, in_place = keys_for(rig, motion, in_place=True)
    np.testing.assert_array_equal(in_place.rotations, moving.rotations)
    pelvis = rig.index("pelvis")
    still, travelling = (posed_matrices(rig, keys)[:, pelvis, :3, 3] for keys in (in_place, moving))
    np.testing.assert_allclose(still[:, :2], np.tile(rig.heads[pelvis, :2], (160, 1)), atol=1e-9)
    np.testing.assert_allclose(still[:, 2], travelling[:, 2], atol=1e-9)
    assert np.ptp(travelling[:, 0]) > 0.5  # the walk itself does travel


@pytest.fixture(scope="module")
def rigify():
    return rigify_metarig()


@pytest.mark.parametrize("name", ["walk", "turning walk", "synth clip 0", "synth clip 1", "synth clip 2"])
def test_rigify_bones_point_where_the_source_bones_point(motions, rigify, name):
    motion = motions[name]
    _, keys = keys_for(rigify, motion)
    mapping = bone_maps.build_mapping(rigify.bone_names)
    posed = posed_matrices(rigify, keys)
    source = blender_from_model(motion.positions)
    for joint, joint_name in enumerate(JOINT_NAMES):
        bone = rigify.index(mapping[joint_name])
        if joint in LEAVES:
            # The IK keeps leaves still relative to their parent, so must the rig: the angle
            # between the leaf bone and its parent joint's bone stays the rest angle.
            parent_bone = rigify.index(mapping[JOINT_NAMES[PARENTS[joint]]])
            rest = degrees_between(rigify.matrices[bone, :3, 1], rigify.matrices[parent_bone, :3, 1])
            posed_angle = degrees_between(posed_axis(rigify, posed, bone),
                                          posed_axis(rigify, posed, parent_bone))
            np.testing.assert_allclose(posed_angle, rest, atol=0.01, err_msg=joint_name)
        else:
            aim = aim_joint(joint)
            error = degrees_between(posed_axis(rigify, posed, bone), source[:, aim] - source[:, joint])
            assert error.max() < 5.0, (joint_name, error.max())
            assert error.max() < 0.5, (joint_name, error.max())  # in fact: only the fixture's rounding


def test_rigify_keys_only_the_body_and_its_upper_neck(motions, rigify):
    _, keys = keys_for(rigify, motions["walk"])
    assert len(keys.bone_names) == 23 and keys.rest_bones == ["spine.005"]
    assert keys.root_bone == "spine"
    assert not any(name.startswith(("f_", "thumb", "palm", "heel", "breast", "pelvis.", "face"))
                   for name in keys.bone_names)
    for name in keys.bone_names[1:]:  # a connected set, parents first
        parent = rigify.bone_names[rigify.parents[rigify.index(name)]]
        assert keys.bone_names.index(parent) < keys.bone_names.index(name)


def test_rigify_root_motion_is_scaled_by_leg_length(motions, rigify):
    motion = motions["turning walk"]
    _, keys = keys_for(rigify, motion)

    def head(bone):
        return rigify.heads[rigify.index(bone)]

    rigify_legs = sum(np.linalg.norm(head(f"shin.{s}") - head(f"thigh.{s}")) +
                      np.linalg.norm(head(f"foot.{s}") - head(f"shin.{s}")) for s in "LR")
    offsets = motion.rest_offsets
    source_legs = sum(np.linalg.norm(offsets[k]) + np.linalg.norm(offsets[a]) for k, a in ((4, 7), (5, 8)))
    assert keys.scale == pytest.approx(rigify_legs / source_legs) and keys.scale > 1.1
    hips = posed_matrices(rigify, keys)[:, rigify.index("spine"), :3, 3]
    pelvis = blender_from_model(motion.positions[:, 0])
    np.testing.assert_allclose(hips - hips[0], keys.scale * (pelvis - pelvis[0]), atol=1e-6)  # float32 rest


def test_binding_refuses_rigs_it_cannot_drive(motions, rigify):
    motion = motions["walk"]
    mapping = bone_maps.build_mapping(rigify.bone_names)
    skeleton = (motion.joint_names, motion.parents, motion.rest_offsets)
    without_legs = {joint: bone for joint, bone in mapping.items() if "knee" not in joint}
    with pytest.raises(bone_maps.BoneMapError, match="Rig 'metarig' has no bones for: left_knee, right_knee"):
        bind(rigify, without_legs, *skeleton)
    with pytest.raises(bone_maps.BoneMapError, match="no bones named: thigh.X"):
        bind(rigify, {**mapping, "left_hip": "thigh.X"}, *skeleton)
    under = "pelvis bone 'spine.001' must not lie under other mapped bones"
    with pytest.raises(bone_maps.BoneMapError, match=under):
        bind(rigify, {**mapping, "pelvis": "spine.001", "spine1": "spine"}, *skeleton)
    binding = bind(rigify, mapping, *skeleton)
    with pytest.raises(ValueError, match="rotations must be"):
        retarget(binding, motion.rotations[:, :21], motion.root_translation)


def test_rig_orders_bones_parents_first_and_checks_the_hierarchy():
    matrix = np.eye(4)
    rig = Rig.from_bones("r", [("c", "b", (0, 0, 2), (0, 0, 3), matrix),
                               ("a", None, (0, 0, 0), (0, 0, 1), matrix),
                               ("b", "a", (0, 0, 1), (0, 0, 2), matrix)])
    assert rig.bone_names == ("a", "b", "c") and rig.parents == (-1, 0, 1)
    assert rig.ancestors(2) == [1, 0]
    with pytest.raises(ValueError, match="parent bones not in the rig: ghost"):
        Rig.from_bones("r", [("a", "ghost", (0, 0, 0), (0, 0, 1), matrix)])
    with pytest.raises(ValueError, match="its own ancestor"):
        Rig.from_bones("r", [("a", "b", (0, 0, 0), (0, 0, 1), matrix),
                             ("b", "a", (0, 0, 0), (0, 0, 1), matrix)])
