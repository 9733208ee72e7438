"""Small HumanML3D-layout folders of synthetic walks and tiny random models, for tests."""

from pathlib import Path

import numpy as np
import torch

from moscale.checkpoint import MoScaleModel
from moscale.model.config import tiny_configs
from moscale.model.loading import build_tokenizer, build_transformer
from moscale.motion.features import extract_features
from moscale.text.encoders import TextEncoderSpec
from synthetic_motion import make_walk

# Two classes a motion encoder can tell apart (turning shows in the root yaw velocity), two
# phrasings each so a text encoder has to map synonyms together.
CAPTIONS = {
    "straight": ["a person walks straight forward", "someone walks ahead in a straight line"],
    "circle": ["a person walks around in a full circle", "someone turns in a circle while walking"],
}


def write_tiny_humanml3d(root: Path, splits: dict | None = None, seed: int = 0) -> Path:
    """Walks of 50-150 frames with varied wobble; odd clips turn 0.8-1.2 full circles."""
    splits = splits or {"train": 18, "val": 3, "test": 3}
    root = Path(root)
    for folder in ("new_joint_vecs", "new_joints", "texts"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    index, everything = 0, []
    for split, count in splits.items():
        names = []
        for _ in range(count):
            kind = "circle" if index % 2 else "straight"
            turns = float(rng.uniform(0.8, 1.2)) if kind == "circle" else 0.0
            walk = make_walk(frames=int(rng.integers(51, 151)), turns=turns, seed=seed + index,
                             wobble=float(rng.uniform(0.05, 0.25)))
            features = extract_features(walk.positions, retarget=False).astype(np.float32)
            name = f"{index:06d}"
            np.save(root / "new_joint_vecs" / f"{name}.npy", features)
            np.save(root / "new_joints" / f"{name}.npy", walk.positions.astype(np.float32))
            lines = [f"{c}#{' '.join(w + '/OTHER' for w in c.split())}#0.0#0.0" for c in CAPTIONS[kind]]
            (root / "texts" / f"{name}.txt").write_text("\n".join(lines) + "\n")
            names.append(name)
            everything.append(features)
            index += 1
        (root / f"{split}.txt").write_text("\n".join(names) + "\n")
    stacked = np.concatenate(everything)
    np.save(root / "Mean.npy", stacked.mean(0))
    np.save(root / "Std.npy", stacked.std(0) + 1e-2)
    return root


def tiny_random_model(mean: np.ndarray, std: np.ndarray, name: str = "tiny-random") -> MoScaleModel:
    """Tiny random-weight model for the MiniLM encoder (random codebook, so codes differ)."""
    torch.manual_seed(0)
    tokenizer_config, transformer_config = tiny_configs(text_dim=384)
    tokenizer = build_tokenizer(tokenizer_config).eval()
    with torch.no_grad():
        tokenizer.quantizer.codebook.normal_()
    transformer = build_transformer(transformer_config, None, tokenizer).eval()
    return MoScaleModel(tokenizer, transformer, mean.astype(np.float32), std.astype(np.float32),
                        TextEncoderSpec(), name=name)
