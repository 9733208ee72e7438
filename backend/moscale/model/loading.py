"""Build the networks from configs and load weights strictly, with errors a user can act on."""

from __future__ import annotations

import torch

from .config import TokenizerConfig, TransformerConfig
from .hrvqvae import HRVQVAE
from .transformer import MoScaleTransformer


class WeightsMismatchError(ValueError):
    """Weights that do not fit the architecture their config describes."""


def load_state_strict(module: torch.nn.Module, state: dict, what: str):
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{key}: file {tuple(state[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in expected if key in state and tuple(state[key].shape) != tuple(expected[key].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensors (e.g. {missing[:3]})")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} tensors (e.g. {unexpected[:3]})")
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} shape mismatches (e.g. {wrong_shape[:3]})")
    if problems:
        raise WeightsMismatchError(f"{what} weights do not match their config: " + "; ".join(problems))
    module.load_state_dict(state, strict=True)


def build_tokenizer(config: TokenizerConfig, state: dict | None = None) -> HRVQVAE:
    tokenizer = HRVQVAE(config)
    if state is not None:
        load_state_strict(tokenizer, state, "tokenizer")
    return tokenizer


def build_transformer(config: TransformerConfig, state: dict | None, tokenizer: HRVQVAE) -> MoScaleTransformer:
    if (config.code_dim, config.nb_code) != (tokenizer.config.code_dim, tokenizer.config.nb_code):
        raise WeightsMismatchError(
            f"transformer expects codes {config.code_dim}x{config.nb_code} but the tokenizer has "
            f"{tokenizer.config.code_dim}x{tokenizer.config.nb_code}"
        )
    transformer = MoScaleTransformer(config)
    if state is not None:
        load_state_strict(transformer, state, "transformer")
    transformer.attach_codebook(tokenizer.quantizer.codebook)
    return transformer
