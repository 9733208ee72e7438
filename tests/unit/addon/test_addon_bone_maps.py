import pytest
from addon_rigs import rigify_generated_bone_names, rigify_metarig
from moscale.motion.skeleton import JOINT_NAMES

from addon import bone_maps

MIXAMO = [
    "Hips", "Spine", "Spine1", "Spine2", "Neck", "Head", "HeadTop_End",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftHandThumb1", "LeftHandIndex1",
    "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightHandThumb1", "RightHandIndex1",
    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "LeftToe_End",
    "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "RightToe_End",
]
UE5_MANNEQUIN = [
    "root", "pelvis", "spine_01", "spine_02", "spine_03", "spine_04", "spine_05", "neck_01",
    "neck_02", "head", "clavicle_l", "upperarm_l", "upperarm_twist_01_l", "lowerarm_l",
    "lowerarm_twist_01_l", "hand_l", "index_01_l", "clavicle_r", "upperarm_r", "upperarm_twist_01_r",
    "lowerarm_r", "lowerarm_twist_01_r", "hand_r", "index_01_r", "thigh_l", "thigh_twist_01_l",
    "calf_l", "calf_twist_01_l", "foot_l", "ball_l", "thigh_r", "thigh_twist_01_r", "calf_r",
    "calf_twist_01_r", "foot_r", "ball_r", "ik_foot_root", "ik_foot_l", "ik_foot_r",
]


def test_joint_names_are_the_backends():
    assert bone_maps.JOINT_NAMES == JOINT_NAMES
    assert set(bone_maps.ESSENTIAL_JOINTS) <= set(JOINT_NAMES)
    for preset, (label, table) in bone_maps.PRESETS.items():
        assert set(table) == set(JOINT_NAMES), preset
        assert len(set(table.values())) == len(JOINT_NAMES), preset  # one bone per joint


@pytest.mark.parametrize("preset, names", [
    ("moscale", list(JOINT_NAMES) + ["root", "prop"]),
    ("rigify_metarig", list(rigify_metarig().bone_names)),
    ("rigify_deform", rigify_generated_bone_names()),
    ("mixamo", ["mixamorig:" + name for name in MIXAMO]),
    ("mixamo", ["mixamorig7:" + name for name in MIXAMO]),
    ("mixamo", MIXAMO),
    ("mixamo", ["mixamorig_" + name for name in MIXAMO]),
    ("mixamo", ["Character1|mixamorig:" + name.upper() for name in MIXAMO]),
    ("ue5_mannequin", UE5_MANNEQUIN),
    ("ue5_mannequin", [name.upper() for name in UE5_MANNEQUIN]),
])
def test_detection_picks_the_preset_and_maps_every_joint_to_the_rigs_own_names(preset, names):
    assert bone_maps.detect_preset(names) == preset
    mapping = bone_maps.build_mapping(names)
    assert list(mapping) == list(JOINT_NAMES)
    assert set(mapping.values()) <= set(names)
    bone_maps.check_mapping(mapping, "rig")  # no error


def test_examples_of_the_mapping():
    mixamo = bone_maps.build_mapping(["mixamorig:" + name for name in MIXAMO])
    assert mixamo["pelvis"] == "mixamorig:Hips" and mixamo["right_elbow"] == "mixamorig:RightForeArm"
    rigify = bone_maps.build_mapping(rigify_generated_bone_names())
    assert rigify["left_knee"] == "DEF-shin.L" and rigify["head"] == "DEF-spine.006"
    ue5 = bone_maps.build_mapping(UE5_MANNEQUIN)
    assert (ue5["spine3"], ue5["left_collar"], ue5["right_foot"]) == ("spine_05", "clavicle_l", "ball_r")


def test_unknown_rig_detects_nothing_and_the_message_names_the_joints():
    names = ["Bone", "Bone.001", "Bone.002"]
    assert bone_maps.detect_preset(names) is None
    mapping = bone_maps.build_mapping(names)
    assert mapping == {}
    with pytest.raises(bone_maps.BoneMapError) as error:
        bone_maps.check_mapping(mapping, "Cube rig")
    assert str(error.value).startswith(
        "Rig 'Cube rig' has no bones for: pelvis, left_hip, right_hip, left_knee, right_knee, "
        "left_ankle, right_ankle, left_shoulder, right_shoulder, left_elbow, right_elbow."
    )


def test_partial_rig_lists_only_what_is_missing():
    names = [name for name in MIXAMO if "Leg" not in name]  # no thighs or shins
    mapping = bone_maps.build_mapping(names)
    assert bone_maps.unmapped_joints(mapping) == ["left_hip", "right_hip", "left_knee", "right_knee"]
    missing = "no bones for: left_hip, right_hip, left_knee, right_knee\\."
    with pytest.raises(bone_maps.BoneMapError, match=missing):
        bone_maps.check_mapping(mapping, "half")


def test_optional_joints_may_be_missing():
    names = [name for name in MIXAMO if not name.startswith(("Spine", "Neck", "LeftToe", "RightToe"))]
    mapping = bone_maps.build_mapping(names)
    bone_maps.check_mapping(mapping, "rig")
    optional = {"spine1", "spine2", "spine3", "neck", "left_foot", "right_foot"}
    assert set(bone_maps.unmapped_joints(mapping)) == optional


def test_overrides_remap_unmap_and_complete():
    names = MIXAMO + ["Tail"]
    mapping = bone_maps.build_mapping(names, "mixamo", {"left_foot": "", "spine3": "Tail"})
    assert "left_foot" not in mapping and mapping["spine3"] == "Tail"
    # Overrides alone can map a rig no preset knows.
    own = ["hip_bone", "l_thigh", "r_thigh", "l_shin", "r_shin", "l_foot", "r_foot",
           "l_arm", "r_arm", "l_forearm", "r_forearm"]
    overrides = dict(zip(bone_maps.ESSENTIAL_JOINTS, own))
    mapping = bone_maps.build_mapping(own, "auto", overrides)
    assert mapping == overrides
    bone_maps.check_mapping(mapping, "own")


@pytest.mark.parametrize("overrides, message", [
    ({"left_hip": "NoSuchBone"}, "Bone 'NoSuchBone' \\(mapped to left_hip\\) is not in the rig"),
    ({"tail": "Hips"}, "Unknown joint 'tail'"),
    ({"spine1": "Hips"}, "Bone 'Hips' is mapped to both pelvis and spine1"),
])
def test_bad_overrides_say_what_is_wrong(overrides, message):
    with pytest.raises(bone_maps.BoneMapError, match=message):
        bone_maps.build_mapping(MIXAMO, "mixamo", overrides)


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="Unknown bone-mapping preset 'maya'"):
        bone_maps.build_mapping(MIXAMO, "maya")
