"""Writing the synthetic corpus in HumanML3D's folder layout, in parallel and deterministically.

Clip i is drawn from numpy's Generator seeded with (seed, i), so its files do not depend on the
number of workers or on which worker makes it; statistics are merged in clip order. Layout:
new_joint_vecs/<id>.npy (float32 [N-1, 263]), new_joints/<id>.npy (float32 [N, 22, 3], the
canonical poses recover_from_ric gives back), texts/<id>.txt, train/val/test.txt, Mean.npy,
Std.npy (from the train split, as HumanML3D's cal_mean_variance) and corpus.json.
"""

import json
import multiprocessing
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from moscale.motion import features as hml
from moscale.motion.skeleton import FPS, JOINT_COUNT

from .captions import text_line
from .compose import make_clip
from .physics import foot_skate_steps, ground_penetration

GENERATOR_VERSION = "synth-1"
SPLITS = (("train", 0.85), ("val", 0.05), ("test", 0.10))


@dataclass
class ClipStats:
    """What the main process needs from a written clip: bookkeeping and feature moments."""

    index: int
    frames: int
    actions: list[str]
    kind: str
    skating_steps: int
    lowest: float
    feature_mean: np.ndarray   # [263] float64
    feature_m2: np.ndarray     # [263] sum of squared deviations from the clip mean


def clip_id(index: int) -> str:
    return f"{index:06d}"


def split_ids(clips: int, seed: int) -> dict[str, list[int]]:
    """A seeded shuffle cut 85 / 5 / 10; each split sorted."""
    order = np.random.default_rng([seed, 0x5_1_17]).permutation(clips)
    train_end = int(round(clips * SPLITS[0][1]))
    val_end = train_end + int(round(clips * SPLITS[1][1]))
    parts = {"train": order[:train_end], "val": order[train_end:val_end], "test": order[val_end:]}
    return {name: sorted(int(i) for i in part) for name, part in parts.items()}


def write_clip(out_dir: Path, seed: int, index: int) -> ClipStats:
    """Synthesize clip `index` and write its three files."""
    clip = make_clip(np.random.default_rng([seed, index]))
    name = clip_id(index)
    # One extraction gives both what extract_features and canonicalize return (each would redo it).
    extraction = hml.extract(clip.positions, retarget=False)
    features = extraction.features.astype(np.float32)
    joints = extraction.recovered.astype(np.float32)
    np.save(out_dir / "new_joint_vecs" / f"{name}.npy", features)
    np.save(out_dir / "new_joints" / f"{name}.npy", joints)
    lines = [text_line(caption, verbs) for caption, verbs in clip.captions]
    (out_dir / "texts" / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    as64 = features.astype(np.float64)
    mean = as64.mean(axis=0)
    return ClipStats(index, len(clip.positions), [s.action for s in clip.segments], clip.kind,
                     int(foot_skate_steps(clip.positions, FPS).sum()), ground_penetration(clip.positions),
                     mean, ((as64 - mean) ** 2).sum(axis=0))


def _write_clip_task(task: tuple[str, int, int]) -> ClipStats:
    out_dir, seed, index = task
    return write_clip(Path(out_dir), seed, index)


def hml_mean_std(count: int, mean: np.ndarray, m2: np.ndarray, joints: int = JOINT_COUNT) -> tuple[np.ndarray, np.ndarray]:
    """HumanML3D's mean_variance from pooled moments: per-channel mean, and the population std
    averaged within each feature group (root rotation velocity, root linear velocity, root
    height, RIC positions, 6-D rotations, local velocities, foot contacts), each divided by 1.0."""
    std = np.sqrt(m2 / count)
    groups = (0, 1, 3, 4, 4 + (joints - 1) * 3, 4 + (joints - 1) * 9, 4 + (joints - 1) * 9 + joints * 3, hml.FEATURE_DIM)
    for start, end in zip(groups[:-1], groups[1:]):
        std[start:end] = std[start:end].mean() / 1.0
    return mean.astype(np.float32), std.astype(np.float32)


class _Moments:
    """Chan et al.'s pairwise merge of (count, mean, M2): exact pooled variance, in a fixed order."""

    def __init__(self):
        self.count, self.mean, self.m2 = 0, np.zeros(hml.FEATURE_DIM), np.zeros(hml.FEATURE_DIM)

    def add(self, count: int, mean: np.ndarray, m2: np.ndarray):
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * count / total)
        self.count = total


def synthesize_corpus(out_dir, clips: int = 20000, seed: int = 0, workers: int = 2,
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """Write `clips` synthetic clips to `out_dir` in HumanML3D's layout; returns the manifest.

    Same seed, same bytes, whatever `workers` is. `progress(done, total)` is called as clips
    finish (in clip order).
    """
    if clips < 20:
        raise ValueError(f"need at least 20 clips for three non-empty splits, got {clips}")
    out_dir = Path(out_dir)
    for folder in ("new_joint_vecs", "new_joints", "texts"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    splits = split_ids(clips, seed)
    train = np.zeros(clips, dtype=bool)
    train[splits["train"]] = True

    tasks = [(str(out_dir), seed, index) for index in range(clips)]
    moments, actions, kinds = _Moments(), Counter(), Counter()
    frames = skating = 0
    lowest = np.inf
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
    try:
        results = pool.imap(_write_clip_task, tasks, chunksize=8) if pool else map(_write_clip_task, tasks)
        for done, stats in enumerate(results, start=1):
            if train[stats.index]:
                moments.add(stats.frames - 1, stats.feature_mean, stats.feature_m2)
            actions.update(stats.actions)
            kinds[stats.kind] += 1
            frames += stats.frames
            skating += stats.skating_steps
            lowest = min(lowest, stats.lowest)
            if progress:
                progress(done, clips)
    finally:
        if pool:
            pool.close()
            pool.join()

    mean, std = hml_mean_std(moments.count, moments.mean, moments.m2)
    np.save(out_dir / "Mean.npy", mean)
    np.save(out_dir / "Std.npy", std)
    for name, ids in splits.items():
        (out_dir / f"{name}.txt").write_text("".join(clip_id(i) + "\n" for i in ids), encoding="utf-8")
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "clips": clips,
        "fps": FPS,
        "frames": frames,
        "splits": {name: len(ids) for name, ids in splits.items()},
        "actions": dict(sorted(actions.items())),
        "compositions": dict(sorted(kinds.items())),
        "foot_skate_ratio": round(skating / (frames - clips), 6),
        "lowest_joint_height": round(float(lowest), 6),
    }
    (out_dir / "corpus.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
