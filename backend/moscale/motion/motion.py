"""The Motion record that leaves the backend, and its .npz / .json / .bvh files."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .features import FOOT_CONTACT_THRESHOLD
from .ik import skeleton_from_positions, solve_ik
from .skeleton import FOOT_CONTACT_JOINTS, FPS, JOINT_NAMES, Skeleton

FORMAT = "moscale.motion"
VERSION = 1
_UNIT_TOLERANCE = 1e-4
_FOOT_JOINT_NAMES = tuple(JOINT_NAMES[j] for j in FOOT_CONTACT_JOINTS)


def foot_contacts_from_positions(positions: np.ndarray, joint_names, fps: float = FPS) -> np.ndarray:
    """HumanML3D's contact rule per frame [T, 4] bool (l_ankle, l_foot, r_ankle, r_foot).

    A foot joint touches when its squared step to the next frame is under 0.002 m^2 at 20 fps
    (the threshold scales with (20 / fps)^2 so the speed limit, ~0.9 m/s, is the same at any
    fps). The last frame repeats the one before. Joints are found by name; skeletons without
    them get no contacts.
    """
    positions = np.asarray(positions, dtype=np.float64)
    frames = len(positions)
    if frames < 2 or not set(_FOOT_JOINT_NAMES) <= set(joint_names):
        return np.zeros((frames, 4), dtype=bool)
    feet = positions[:, [list(joint_names).index(name) for name in _FOOT_JOINT_NAMES]]
    threshold = FOOT_CONTACT_THRESHOLD * (FPS / fps) ** 2
    contacts = np.sum((feet[1:] - feet[:-1]) ** 2, axis=-1) < threshold
    return np.concatenate([contacts, contacts[-1:]], axis=0)


@dataclass
class Motion:
    """A solved motion: skeleton, local rotations, root path, joint positions and foot contacts.

    Rotations are local unit quaternions (w, x, y, z) relative to the rest pose given by
    rest_offsets; positions are model space (metres, Y up, the character starts facing +Z).
    """

    fps: float
    joint_names: list[str]
    parents: list[int]
    rest_offsets: np.ndarray      # [J, 3]
    rotations: np.ndarray         # [T, J, 4]
    root_translation: np.ndarray  # [T, 3]
    positions: np.ndarray         # [T, J, 3]
    foot_contacts: np.ndarray     # [T, 4] bool: l_ankle, l_foot, r_ankle, r_foot
    metadata: dict = field(default_factory=dict)

    @property
    def frame_count(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def skeleton(self) -> Skeleton:
        return Skeleton(self.joint_names, self.parents, self.rest_offsets)

    def validate(self) -> "Motion":
        """Check shapes, finiteness and unit quaternions; raise ValueError saying what is wrong."""
        joints = len(self.joint_names)
        frames = np.shape(self.rotations)[0] if np.ndim(self.rotations) else -1
        expected = {
            "rest_offsets": (joints, 3),
            "rotations": (frames, joints, 4),
            "root_translation": (frames, 3),
            "positions": (frames, joints, 3),
            "foot_contacts": (frames, 4),
        }
        for name, shape in expected.items():
            value = np.asarray(getattr(self, name))
            if value.shape != shape:
                raise ValueError(f"Motion.{name} must have shape {shape}, got {value.shape}")
            if name != "foot_contacts" and not np.all(np.isfinite(value)):
                raise ValueError(f"Motion.{name} contains NaN or inf")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"Motion.fps must be a positive number, got {self.fps}")
        if len(self.parents) != joints:
            raise ValueError(f"Motion has {joints} joint names but {len(self.parents)} parents")
        Skeleton(self.joint_names, self.parents, self.rest_offsets)  # raises on bad parents/offsets
        norms = np.linalg.norm(self.rotations, axis=-1)
        if norms.size and np.max(np.abs(norms - 1.0)) > _UNIT_TOLERANCE:
            raise ValueError(
                f"Motion.rotations must be unit quaternions; the worst has norm "
                f"{norms.flat[np.argmax(np.abs(norms - 1.0))]:.6f}"
            )
        try:
            json.dumps(self.metadata)
        except (TypeError, ValueError) as error:
            raise ValueError(f"Motion.metadata must be JSON-serialisable: {error}") from None
        return self

    @classmethod
    def from_positions(cls, positions, fps: float = FPS, metadata: dict | None = None) -> "Motion":
        """Solve rotations for 22-joint positions [T, 22, 3] on a skeleton fitted to them."""
        skeleton = skeleton_from_positions(positions)
        rotations, root_translation = solve_ik(positions, skeleton)
        positions = np.asarray(positions, dtype=np.float64)
        return cls(
            fps=float(fps),
            joint_names=list(skeleton.joint_names),
            parents=list(skeleton.parents),
            rest_offsets=skeleton.offsets,
            rotations=rotations,
            root_translation=root_translation,
            positions=positions,
            foot_contacts=foot_contacts_from_positions(positions, skeleton.joint_names, fps),
            metadata=dict(metadata or {}),
        ).validate()


_ARRAYS = ("rest_offsets", "rotations", "root_translation", "positions", "foot_contacts")


def _header(motion: Motion) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "fps": float(motion.fps),
        "joint_names": list(motion.joint_names),
        "parents": [int(p) for p in motion.parents],
        "metadata": motion.metadata,
    }


def _from_header(header: dict, arrays: dict, path: Path) -> Motion:
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a MoScale motion file (format {header.get('format')!r})")
    if header.get("version") != VERSION:
        raise ValueError(f"{path} has motion format version {header.get('version')}; this reads {VERSION}")
    return Motion(
        fps=float(header["fps"]),
        joint_names=list(header["joint_names"]),
        parents=[int(p) for p in header["parents"]],
        rest_offsets=np.asarray(arrays["rest_offsets"], dtype=np.float64),
        rotations=np.asarray(arrays["rotations"], dtype=np.float64),
        root_translation=np.asarray(arrays["root_translation"], dtype=np.float64),
        positions=np.asarray(arrays["positions"], dtype=np.float64),
        foot_contacts=np.asarray(arrays["foot_contacts"], dtype=bool),
        metadata=dict(header.get("metadata") or {}),
    ).validate()


def save_npz(path, motion: Motion) -> Path:
    motion.validate()
    path = Path(path)
    arrays = {name: np.asarray(getattr(motion, name)) for name in _ARRAYS}
    with open(path, "wb") as file:  # a file object keeps numpy from appending ".npz"
        np.savez_compressed(file, header=np.array(json.dumps(_header(motion))), **arrays)
    return path


def load_npz(path) -> Motion:
    path = _existing(path)
    with np.load(path, allow_pickle=False) as data:
        missing = [name for name in ("header",) + _ARRAYS if name not in data.files]
        if missing:
            raise ValueError(f"{path} is missing {', '.join(missing)}; not a MoScale motion file")
        return _from_header(json.loads(str(data["header"])), {n: data[n] for n in _ARRAYS}, path)


def save_json(path, motion: Motion) -> Path:
    motion.validate()
    path = Path(path)
    document = _header(motion)
    document.update({name: np.asarray(getattr(motion, name)).tolist() for name in _ARRAYS})
    path.write_text(json.dumps(document))
    return path


def load_json(path) -> Motion:
    path = _existing(path)
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    missing = [name for name in _ARRAYS if name not in document]
    if missing:
        raise ValueError(f"{path} is missing {', '.join(missing)}; not a MoScale motion file")
    return _from_header(document, document, path)


def _existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Motion file not found: {path}")
    return path


MOTION_SUFFIXES = (".npz", ".json", ".bvh")


def check_motion_path(path) -> Path:
    """The path, if its extension is a motion format we write; a clear ValueError otherwise."""
    path = Path(path)
    if path.suffix.lower() not in MOTION_SUFFIXES:
        raise ValueError(
            f"Unknown motion file extension {path.suffix!r} for {path}; use one of {', '.join(MOTION_SUFFIXES)}"
        )
    return path


def _handlers(path: Path):
    from . import bvh

    handlers = {
        ".npz": (save_npz, load_npz),
        ".json": (save_json, load_json),
        ".bvh": (bvh.save_bvh, bvh.load_bvh),
    }
    return handlers[check_motion_path(path).suffix.lower()]


def save_motion(path, motion: Motion) -> Path:
    """Write `motion` as .npz, .json or .bvh, chosen by the file extension."""
    path = Path(path)
    return _handlers(path)[0](path, motion)


def load_motion(path) -> Motion:
    """Read a .npz, .json or .bvh motion file, chosen by the file extension."""
    path = Path(path)
    loader = _handlers(path)[1]
    return loader(_existing(path))
