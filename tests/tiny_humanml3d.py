"""A small HumanML3D-layout folder of synthetic walks, for tests of training and data reading."""

from pathlib import Path

import numpy as np

from moscale.motion.features import extract_features
from synthetic_motion import make_walk

CAPTIONS = {0.0: "a person walks straight forward", 1.0: "a person walks and turns around in a full circle"}


def write_tiny_humanml3d(root: Path, clips: int = 24, seed: int = 0) -> Path:
    """`clips` walks of 60-150 frames, half of them turning a full circle, captioned accordingly."""
    root = Path(root)
    for folder in ("new_joint_vecs", "new_joints", "texts"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names, all_features = [], []
    for index in range(clips):
        turns = float(index % 2)
        positions = make_walk(frames=int(rng.integers(60, 150)), turns=turns, seed=seed + index).positions
        features = extract_features(positions, retarget=False).astype(np.float32)
        name = f"{index:06d}"
        np.save(root / "new_joint_vecs" / f"{name}.npy", features)
        np.save(root / "new_joints" / f"{name}.npy", positions.astype(np.float32))
        caption = CAPTIONS[turns]
        tokens = " ".join(f"{word}/OTHER" for word in caption.split())
        (root / "texts" / f"{name}.txt").write_text(f"{caption}#{tokens}#0.0#0.0\n{caption}, calmly#{tokens}#0.0#0.0\n")
        names.append(name)
        all_features.append(features)
    stacked = np.concatenate(all_features)
    np.save(root / "Mean.npy", stacked.mean(0))
    np.save(root / "Std.npy", stacked.std(0) + 1e-2)
    cut = int(clips * 0.75)
    (root / "train.txt").write_text("\n".join(names[:cut]) + "\n")
    (root / "val.txt").write_text("\n".join(names[cut:cut + (clips - cut) // 2]) + "\n")
    (root / "test.txt").write_text("\n".join(names[cut + (clips - cut) // 2:]) + "\n")
    return root
