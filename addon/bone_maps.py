"""Which bone of a target rig plays which joint of our 22-joint skeleton.

A preset names, per joint, the bone of a known rig: our own armature, the Rigify human metarig,
a generated Rigify rig's deform bones, Mixamo and the Unreal Engine 5 mannequin. Names match
case-insensitively and without namespace prefixes ("mixamorig:Hips", "mixamorig7:Hips",
"mixamorig_Hips" and "Hips" all match "Hips"), so the preset with the most matches is the rig's
kind. Per-joint overrides come on top. Bones no joint names are left alone.
"""

import re

# Our skeleton's joints in the backend's order (backend/moscale/motion/skeleton.py).
JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)

# Without these the motion does not read: root, legs and arms. Spine, neck, head, collars,
# wrists and toes are welcome but optional (their rotation then stays with the parent).
ESSENTIAL_JOINTS = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
)


def _sided(left: dict, right_of) -> dict:
    """A full joint -> bone table from the centre and left-side entries."""
    table = dict(left)
    for joint, bone in left.items():
        if joint.startswith("left_"):
            table["right_" + joint[len("left_"):]] = right_of(bone)
    return table


_RIGIFY = _sided(
    {
        "pelvis": "spine", "spine1": "spine.001", "spine2": "spine.002", "spine3": "spine.003",
        "neck": "spine.004", "head": "spine.006",  # spine.005, the upper neck, turns with spine.004
        "left_hip": "thigh.L", "left_knee": "shin.L", "left_ankle": "foot.L", "left_foot": "toe.L",
        "left_collar": "shoulder.L", "left_shoulder": "upper_arm.L", "left_elbow": "forearm.L",
        "left_wrist": "hand.L",
    },
    lambda bone: bone[:-2] + ".R",
)

_MIXAMO = _sided(
    {
        "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2",
        "neck": "Neck", "head": "Head",
        "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
        "left_foot": "LeftToeBase", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm",
        "left_elbow": "LeftForeArm", "left_wrist": "LeftHand",
    },
    lambda bone: "Right" + bone[len("Left"):],
)

_UE5_MANNEQUIN = _sided(
    {
        # Five spine bones for our three: the skipped ones bend with the bone below them.
        "pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_03", "spine3": "spine_05",
        "neck": "neck_01", "head": "head",
        "left_hip": "thigh_l", "left_knee": "calf_l", "left_ankle": "foot_l", "left_foot": "ball_l",
        "left_collar": "clavicle_l", "left_shoulder": "upperarm_l", "left_elbow": "lowerarm_l",
        "left_wrist": "hand_l",
    },
    lambda bone: bone[:-2] + "_r",
)

# id -> (label for the UI, joint -> bone name)
PRESETS = {
    "moscale": ("MoScale 22-joint armature", {joint: joint for joint in JOINT_NAMES}),
    "rigify_metarig": ("Rigify human metarig", _RIGIFY),
    "rigify_deform": ("Rigify generated rig (DEF- bones)", {j: "DEF-" + b for j, b in _RIGIFY.items()}),
    "mixamo": ("Mixamo", _MIXAMO),
    "ue5_mannequin": ("Unreal Engine 5 mannequin", _UE5_MANNEQUIN),
}

# "mixamorig" or "mixamorig_" glued to the name, as some exporters write Mixamo's namespace.
_GLUED_MIXAMO_PREFIX = re.compile(r"^mixamorig\d*_?", re.IGNORECASE)


class BoneMapError(ValueError):
    """The rig cannot take the motion as mapped; the message says what to map."""


def normalise_name(name: str) -> str:
    """The part of a bone name presets compare: no namespace ("mixamorig:", "Armature|"), lower case."""
    name = re.split(r"[:|]", name)[-1]
    return _GLUED_MIXAMO_PREFIX.sub("", name).lower()


def preset_mapping(preset: str, bone_names) -> dict[str, str]:
    """joint -> the rig's own bone name, for the joints of `preset` the rig has."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown bone-mapping preset {preset!r}; choose one of {', '.join(PRESETS)}")
    by_normal_name = {}
    for name in bone_names:
        by_normal_name.setdefault(normalise_name(name), name)
    table = PRESETS[preset][1]
    return {joint: by_normal_name[normalise_name(bone)] for joint, bone in table.items()
            if normalise_name(bone) in by_normal_name}


def detect_preset(bone_names) -> str | None:
    """The preset matching most of the rig's bones (the first listed on a tie); None if none match."""
    bone_names = list(bone_names)
    counts = {preset: len(preset_mapping(preset, bone_names)) for preset in PRESETS}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def build_mapping(bone_names, preset: str = "auto", overrides: dict | None = None) -> dict[str, str]:
    """joint -> bone from a preset ("auto" detects it) and per-joint overrides.

    An override maps a joint to a bone of the rig, or to "" to leave that joint unmapped.
    """
    bone_names = list(bone_names)
    if preset == "auto":
        preset = detect_preset(bone_names)
    mapping = preset_mapping(preset, bone_names) if preset else {}
    known = set(bone_names)
    for joint, bone in (overrides or {}).items():
        if joint not in JOINT_NAMES:
            raise BoneMapError(
                f"Unknown joint {joint!r} in the bone overrides; joints are {', '.join(JOINT_NAMES)}"
            )
        if not bone:
            mapping.pop(joint, None)
        elif bone not in known:
            raise BoneMapError(f"Bone {bone!r} (mapped to {joint}) is not in the rig")
        else:
            mapping[joint] = bone
    taken = {}
    for joint in JOINT_NAMES:
        bone = mapping.get(joint)
        if bone in taken:
            raise BoneMapError(f"Bone {bone!r} is mapped to both {taken[bone]} and {joint}; map it once")
        if bone:
            taken[bone] = joint
    return {joint: mapping[joint] for joint in JOINT_NAMES if joint in mapping}


def unmapped_joints(mapping: dict[str, str]) -> list[str]:
    """Our joints that no bone plays, in skeleton order."""
    return [joint for joint in JOINT_NAMES if joint not in mapping]


def check_mapping(mapping: dict[str, str], rig_name: str) -> None:
    """Raise BoneMapError naming the essential joints the rig has no bones for."""
    missing = [joint for joint in ESSENTIAL_JOINTS if joint not in mapping]
    if missing:
        raise BoneMapError(
            f"Rig '{rig_name}' has no bones for: {', '.join(missing)}. Choose the preset that "
            f"matches the rig or map these joints to bones by hand."
        )
