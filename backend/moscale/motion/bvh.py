"""BVH files for a Motion: the hierarchy from the rest offsets, one line of channels per frame.

What a BVH from here holds, and what Blender makes of it:
- Units are metres (not the usual centimetres): Blender's BVH importer reads values as they are
  at its default scale 1.0, so the 22-joint character imports ~1.7 m tall standing on Z = 0.
- Axes are model space, Y up, as BVH expects. Blender's importer defaults (forward -Z, up Y) turn
  that into Blender's Z up: model +Y -> Blender +Z, model +Z -> Blender -Y, +X stays +X. Our
  character faces +Z, so in Blender it faces -Y (Blender's "front" view looks at its face) with
  its left side towards +X.
- Rotation channels are Euler angles in degrees, order ROTATION_ORDER (see quaternion.py for
  what an order means); the root also has Xposition Yposition Zposition first.
- Leaf joints get an End Site continuing their bone by half its length, so leaf bones have a
  sensible size in Blender.
Frame Time is 1 / fps.
"""

from pathlib import Path

import numpy as np

from . import quaternion as quat
from .motion import Motion, foot_contacts_from_positions
from .skeleton import JOINT_NAMES, Skeleton

# The one place the BVH Euler convention lives: R = Rz @ Ry @ Rx.
ROTATION_ORDER = "ZYX"
_POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
_ROTATION_CHANNELS = tuple(f"{axis}rotation" for axis in ROTATION_ORDER)


def _hierarchy_lines(motion: Motion) -> tuple[list[str], list[int]]:
    """The HIERARCHY section, and the joints in the depth-first order it lists them (the order
    of the channel columns in every frame line)."""
    children = {j: [c for c, p in enumerate(motion.parents) if p == j] for j in range(len(motion.parents))}
    lines = ["HIERARCHY"]
    order = []

    def write(joint: int, depth: int) -> None:
        order.append(joint)
        indent = "  " * depth
        keyword = "ROOT" if joint == 0 else "JOINT"
        channels = (_POSITION_CHANNELS if joint == 0 else ()) + _ROTATION_CHANNELS
        offset = motion.rest_offsets[joint]
        lines.append(f"{indent}{keyword} {motion.joint_names[joint]}")
        lines.append(f"{indent}{{")
        lines.append(f"{indent}  OFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        lines.append(f"{indent}  CHANNELS {len(channels)} {' '.join(channels)}")
        for child in children[joint]:
            write(child, depth + 1)
        if not children[joint]:
            tip = 0.5 * offset
            lines.append(f"{indent}  End Site")
            lines.append(f"{indent}  {{")
            lines.append(f"{indent}    OFFSET {tip[0]:.6f} {tip[1]:.6f} {tip[2]:.6f}")
            lines.append(f"{indent}  }}")
        lines.append(f"{indent}}}")

    write(0, 0)
    return lines, order


def save_bvh(path, motion: Motion) -> Path:
    """Write `motion` as a BVH file in metres (see the module docstring for orientation)."""
    motion.validate()
    path = Path(path)
    lines, order = _hierarchy_lines(motion)
    angles = np.degrees(quat.to_euler(motion.rotations[:, order], ROTATION_ORDER))  # [T, J, 3]
    channels = np.concatenate([motion.root_translation, angles.reshape(motion.frame_count, -1)], axis=1)
    lines += ["MOTION", f"Frames: {motion.frame_count}", f"Frame Time: {1.0 / motion.fps:.10g}"]
    lines += [" ".join(f"{value:.6f}" for value in row) for row in channels]
    path.write_text("\n".join(lines) + "\n")
    return path


class _Tokens:
    def __init__(self, text: str, path: Path):
        self.words = text.split()
        self.index = 0
        self.path = path

    def next(self) -> str:
        if self.index >= len(self.words):
            raise ValueError(f"{self.path}: BVH file ends early")
        self.index += 1
        return self.words[self.index - 1]

    def expect(self, word: str) -> None:
        found = self.next()
        if found != word:
            raise ValueError(f"{self.path}: expected {word!r} in BVH file, found {found!r}")

    def number(self) -> float:
        word = self.next()
        try:
            return float(word)
        except ValueError:
            raise ValueError(f"{self.path}: expected a number in BVH file, found {word!r}") from None


def _read_joint(tokens: _Tokens, parent: int, names, parents, offsets, channels) -> None:
    joint = len(names)
    names.append(tokens.next())
    parents.append(parent)
    tokens.expect("{")
    tokens.expect("OFFSET")
    offsets.append([tokens.number() for _ in range(3)])
    tokens.expect("CHANNELS")
    channels.append([tokens.next() for _ in range(int(tokens.number()))])
    while True:
        word = tokens.next()
        if word == "}":
            return
        if word == "JOINT":
            _read_joint(tokens, joint, names, parents, offsets, channels)
        elif word == "End":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            [tokens.number() for _ in range(3)]
            tokens.expect("}")
        else:
            raise ValueError(f"{tokens.path}: unexpected {word!r} in BVH hierarchy")


def load_bvh(path) -> Motion:
    """Read a BVH file (any rotation channel order; position channels on the root only).

    Joints come in file order, except that a file with exactly our 22 joint names comes back in
    SMPL order. Positions come from forward kinematics and foot contacts are recomputed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Motion file not found: {path}")
    tokens = _Tokens(path.read_text(), path)
    names, parents, offsets, channels = [], [], [], []
    tokens.expect("HIERARCHY")
    tokens.expect("ROOT")
    _read_joint(tokens, -1, names, parents, offsets, channels)
    tokens.expect("MOTION")
    tokens.expect("Frames:")
    frames = int(tokens.number())
    tokens.expect("Frame")
    tokens.expect("Time:")
    frame_time = tokens.number()
    if frame_time <= 0:
        raise ValueError(f"{path}: Frame Time must be positive, got {frame_time}")
    width = sum(len(c) for c in channels)
    values = np.array([tokens.number() for _ in range(frames * width)]).reshape(frames, width)

    rotations = np.empty((frames, len(names), 4))
    root_translation = np.zeros((frames, 3))
    column = 0
    for joint, joint_channels in enumerate(channels):
        block = values[:, column:column + len(joint_channels)]
        column += len(joint_channels)
        order = "".join(c[0].upper() for c in joint_channels if c.endswith("rotation"))
        for axis, name in enumerate(_POSITION_CHANNELS):
            if name in joint_channels:
                if joint != 0:
                    raise ValueError(f"{path}: position channels on joint {names[joint]!r} are not supported")
                root_translation[:, axis] = block[:, joint_channels.index(name)]
        rotation_columns = [i for i, c in enumerate(joint_channels) if c.endswith("rotation")]
        if len(rotation_columns) == 3:
            rotations[:, joint] = quat.from_euler(np.radians(block[:, rotation_columns]), order)
        elif not rotation_columns:
            rotations[:, joint] = quat.identity()
        else:
            raise ValueError(f"{path}: joint {names[joint]!r} needs 0 or 3 rotation channels")

    offsets = np.array(offsets)
    if sorted(names) == sorted(JOINT_NAMES):  # our skeleton: back from file order to SMPL order
        order = [names.index(name) for name in JOINT_NAMES]
        parents = [-1 if parents[j] < 0 else order.index(parents[j]) for j in order]
        names, offsets, rotations = list(JOINT_NAMES), offsets[order], rotations[:, order]
    skeleton = Skeleton(names, parents, offsets)
    rotations = quat.make_continuous(rotations, axis=0)
    positions = skeleton.forward_kinematics(rotations, root_translation)
    fps = round(1.0 / frame_time, 6)
    return Motion(
        fps=fps,
        joint_names=names,
        parents=parents,
        rest_offsets=skeleton.offsets,
        rotations=rotations,
        root_translation=root_translation,
        positions=positions,
        foot_contacts=foot_contacts_from_positions(positions, names, fps),
        metadata={"source": path.name},
    ).validate()
