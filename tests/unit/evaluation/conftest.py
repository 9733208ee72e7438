"""Shared fixtures: the real MiniLM encoder, a tiny HumanML3D-layout corpus and a tiny random checkpoint."""

import numpy as np
import pytest
import torch

from moscale.checkpoint import MoScaleModel, save_checkpoint
from moscale.model.config import tiny_configs
from moscale.model.loading import build_tokenizer, build_transformer
from moscale.motion.features import extract_features
from moscale.text.encoders import TextEncoderSpec, load_text_encoder
from synthetic_motion import make_walk

# Two classes a motion encoder can tell apart (turning shows in the root yaw velocity), two
# phrasings each so the text side has to map synonyms together.
CAPTIONS = {
    "straight": ["a person walks straight forward", "someone walks ahead in a straight line"],
    "circle": ["a person walks around in a full circle", "someone turns in a circle while walking"],
}
SPLITS = {"train": 64, "val": 16, "test": 32}


@pytest.fixture(scope="session")
def minilm():
    return load_text_encoder(TextEncoderSpec())


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Walks of 50-150 frames with varied wobble; odd clips turn 0.8-1.2 full circles."""
    root = tmp_path_factory.mktemp("tiny_humanml3d")
    for folder in ("new_joint_vecs", "texts"):
        (root / folder).mkdir()
    rng = np.random.default_rng(0)
    index, everything = 0, []
    for split, count in SPLITS.items():
        names = []
        for _ in range(count):
            kind = "circle" if index % 2 else "straight"
            turns = float(rng.uniform(0.8, 1.2)) if kind == "circle" else 0.0
            walk = make_walk(frames=int(rng.integers(51, 151)), turns=turns, seed=index,
                             wobble=float(rng.uniform(0.05, 0.25)))
            features = extract_features(walk.positions, retarget=False).astype(np.float32)
            name = f"{index:06d}"
            np.save(root / "new_joint_vecs" / f"{name}.npy", features)
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


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, corpus):
    """A random-weight tiny model for the MiniLM encoder, normalised with the corpus statistics."""
    torch.manual_seed(0)
    tokenizer_config, transformer_config = tiny_configs(text_dim=384)
    tokenizer = build_tokenizer(tokenizer_config).eval()
    with torch.no_grad():
        tokenizer.quantizer.codebook.normal_()
    transformer = build_transformer(transformer_config, None, tokenizer).eval()
    mean, std = np.load(corpus / "Mean.npy"), np.load(corpus / "Std.npy")
    model = MoScaleModel(tokenizer, transformer, mean, std, TextEncoderSpec(), name="tiny-random")
    return save_checkpoint(model, tmp_path_factory.mktemp("checkpoint") / "tiny-random")
