"""The clearly-named untrained placeholder checkpoint that stands in until the trained default ships.

It has the real architecture at a tiny size with random weights, so every code path (text encoder,
generation, IK, files) runs end to end; the motion it makes is not meaningful.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .checkpoint import SHIPPED_DIR, MoScaleModel, save_checkpoint
from .motion.features import extract_features
from .motion.skeleton import Skeleton
from .model.config import TokenizerConfig, TransformerConfig
from .model.loading import build_tokenizer, build_transformer
from .text.encoders import TextEncoderSpec

NAME = "placeholder-untrained"


def _standing_statistics():
    """Normalisation centred on a person standing in the rest pose, with a small spread, so the
    random network's output decodes to a figure that stands and fidgets rather than exploding."""
    skeleton = Skeleton.default()
    frames = 8
    rotations = np.tile(np.array([1.0, 0.0, 0.0, 0.0]), (frames, skeleton.joint_count, 1))
    root = np.tile(skeleton.offsets[0], (frames, 1))
    features = extract_features(skeleton.forward_kinematics(rotations, root) - skeleton.offsets[0] * [1, 0, 1],
                                retarget=False)
    return features.mean(0).astype(np.float32), np.full(263, 0.05, dtype=np.float32)


def write_placeholder(out: Path | None = None) -> Path:
    torch.manual_seed(0)
    tokenizer_config = TokenizerConfig(width=64, code_dim=32, nb_code=64, depth=2)
    transformer_config = TransformerConfig(code_dim=32, nb_code=64, text_dim=384, cond_dim=128, width=64,
                                           num_layers=2, num_heads=4)
    tokenizer = build_tokenizer(tokenizer_config)
    with torch.no_grad():
        tokenizer.quantizer.codebook.normal_(0, 0.5)
    transformer = build_transformer(transformer_config, None, tokenizer)
    mean, std = _standing_statistics()
    model = MoScaleModel(tokenizer.eval(), transformer.eval(), mean, std, TextEncoderSpec(kind="minilm", dim=384),
                         name=NAME, provenance={"source": "random initialisation (untrained placeholder)"})
    return save_checkpoint(model, out or SHIPPED_DIR / NAME)
