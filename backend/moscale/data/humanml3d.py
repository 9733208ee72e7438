"""Reader of the HumanML3D folder layout, the one format our training and evaluation read.

Layout: `new_joint_vecs/<id>.npy` (T, 263) features, `texts/<id>.txt` with lines
`caption#tokens#start#end`, `train.txt`/`val.txt`/`test.txt` listing ids, `Mean.npy`/`Std.npy`.
A caption with a non-zero time span describes only that part of its clip, which becomes a clip of
its own (as in the reference loaders). Our synthetic corpus writes the same layout, so a user's own
HumanML3D copy and our data share one code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..motion.features import FEATURE_DIM

FPS = 20
MIN_FRAMES = 40
MAX_FRAMES = 200  # exclusive, as in the reference loaders


class HumanML3DError(ValueError):
    """A HumanML3D folder with a missing or inconsistent file; the message names the file."""


@dataclass
class Caption:
    text: str
    tokens: list[str]
    start: float  # seconds; 0 and 0 mean the whole clip
    end: float


@dataclass
class Clip:
    name: str
    features: np.ndarray  # (T, 263) raw float32
    captions: list[Caption]


def read_captions(path: Path) -> list[Caption]:
    if not path.is_file():
        raise HumanML3DError(f"missing caption file {path}")
    captions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split("#")
        if len(parts) < 4:
            raise HumanML3DError(f"{path}:{number}: expected 'caption#tokens#start#end', got {line!r}")
        try:
            start, end = float(parts[2] or 0), float(parts[3] or 0)
        except ValueError as exc:
            raise HumanML3DError(f"{path}:{number}: start/end are not numbers: {line!r}") from exc
        start, end = (0.0 if np.isnan(start) else start), (0.0 if np.isnan(end) else end)
        captions.append(Caption(parts[0].strip(), parts[1].split(" "), start, end))
    if not captions:
        raise HumanML3DError(f"{path} holds no caption")
    return captions


def read_split(root: Path, split: str) -> list[str]:
    path = Path(root) / f"{split}.txt"
    if not path.is_file():
        raise HumanML3DError(f"missing split file {path}")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def read_statistics(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Mean.npy and Std.npy of the folder (float32, 263 each; zero std entries are an error)."""
    root = Path(root)
    arrays = []
    for name in ("Mean.npy", "Std.npy"):
        path = root / name
        if not path.is_file():
            raise HumanML3DError(f"missing normalisation file {path}")
        array = np.load(path).astype(np.float32)
        if array.shape != (FEATURE_DIM,):
            raise HumanML3DError(f"{path} has shape {array.shape}, expected ({FEATURE_DIM},)")
        arrays.append(array)
    if (arrays[1] <= 0).any():
        raise HumanML3DError(f"{root / 'Std.npy'} has non-positive entries")
    return arrays[0], arrays[1]


def load_split(root: Path, split: str, min_frames: int = MIN_FRAMES, max_frames: int = MAX_FRAMES) -> list[Clip]:
    """Every clip of a split whose length is in [min_frames, max_frames), time-tagged captions as sub-clips."""
    root = Path(root)
    if not root.is_dir():
        raise HumanML3DError(f"HumanML3D folder {root} does not exist")
    clips = []
    for name in read_split(root, split):
        path = root / "new_joint_vecs" / f"{name}.npy"
        if not path.is_file():
            raise HumanML3DError(f"{split}.txt lists {name} but {path} is missing")
        features = np.load(path)
        if features.ndim != 2 or features.shape[1] != FEATURE_DIM:
            raise HumanML3DError(f"{path} has shape {features.shape}, expected (frames, {FEATURE_DIM})")
        if not np.isfinite(features).all():
            raise HumanML3DError(f"{path} contains NaN or infinite values")
        features = features.astype(np.float32)
        text_path = root / "texts" / f"{name}.txt"
        whole = []
        for caption in read_captions(text_path):
            if caption.start == 0 and caption.end == 0:
                whole.append(caption)
                continue
            first, last = int(caption.start * FPS), int(caption.end * FPS)
            if not 0 <= first < last <= len(features) + 1:
                raise HumanML3DError(f"{text_path}: caption span {caption.start}-{caption.end} s lies outside "
                                     f"the {len(features)} frames of {path}")
            part = features[first:last]
            if min_frames <= len(part) < max_frames:
                clips.append(Clip(f"{name}@{caption.start:g}-{caption.end:g}", part, [caption]))
        if whole and min_frames <= len(features) < max_frames:
            clips.append(Clip(name, features, whole))
    if not clips:
        raise HumanML3DError(f"split {split} of {root} has no clip of {min_frames} to {max_frames - 1} frames")
    return clips


class MotionTextSampler:
    """Training samples: a random caption and a random crop, normalised and zero-padded.

    The crop length is floored to a multiple of `unit` (and one unit shorter a third of the time), as
    in the reference training, then capped at `max_frames`.
    """

    def __init__(self, clips: list[Clip], mean: np.ndarray, std: np.ndarray, max_frames: int = 196, unit: int = 4):
        self.clips, self.mean, self.std = clips, mean, std
        self.max_frames, self.unit = max_frames, unit

    def __len__(self):
        return len(self.clips)

    def sample(self, index: int, rng: np.random.Generator):
        """-> (motion (max_frames, 263) normalised, zero past length; length; caption text)."""
        clip = self.clips[index]
        caption = clip.captions[rng.integers(len(clip.captions))].text
        length = min(len(clip.features), self.max_frames) // self.unit * self.unit
        if length > self.unit and rng.random() < 1 / 3:
            length -= self.unit
        start = int(rng.integers(0, len(clip.features) - length + 1))
        motion = np.zeros((self.max_frames, FEATURE_DIM), dtype=np.float32)
        motion[:length] = (clip.features[start:start + length] - self.mean) / self.std
        return motion, length, caption

    def batch(self, indices, rng: np.random.Generator):
        samples = [self.sample(int(i), rng) for i in indices]
        motions = np.stack([s[0] for s in samples])
        lengths = np.array([s[1] for s in samples], dtype=np.int64)
        return motions, lengths, [s[2] for s in samples]
