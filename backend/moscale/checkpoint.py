"""Our checkpoint format: a directory with `config.json` and safetensors weights (no pickle on load).

config.json holds the architecture of both networks, the feature normalisation, the skeleton the
motion is expressed on, the text-encoder spec and the provenance of the weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .model.config import TokenizerConfig, TransformerConfig
from .model.hrvqvae import HRVQVAE
from .model.loading import build_tokenizer, build_transformer
from .model.transformer import MoScaleTransformer
from .text.encoders import TextEncoderSpec

FORMAT = "moscale-checkpoint"
TOKENIZER_FORMAT = "moscale-tokenizer"  # a trained tokenizer alone, the input of transformer training
VERSION = 1
FPS = 20.0
SHIPPED_DIR = Path(__file__).parent / "checkpoints"


class CheckpointError(ValueError):
    """A checkpoint directory that is missing, incomplete or inconsistent."""


@dataclass
class MoScaleModel:
    """A loaded checkpoint: both networks plus everything needed to turn tokens into motion."""

    tokenizer: HRVQVAE
    transformer: MoScaleTransformer
    mean: np.ndarray  # (263,) feature normalisation
    std: np.ndarray
    text_encoder: TextEncoderSpec
    name: str = "unnamed"
    provenance: dict = field(default_factory=dict)

    @property
    def max_frames(self) -> int:
        return self.tokenizer.config.max_motion_length

    @property
    def unit_length(self) -> int:
        return self.tokenizer.config.unit_length

    def normalize(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean) / self.std

    def denormalize(self, features: np.ndarray) -> np.ndarray:
        return features * self.std + self.mean

    def parameter_count(self) -> dict:
        return {
            "tokenizer": sum(p.numel() for p in self.tokenizer.parameters()),
            "transformer": sum(p.numel() for p in self.transformer.parameters()),
        }

    def summary(self) -> dict:
        """The model card fields a client shows (server info, `moscale info`)."""
        return {
            "name": self.name,
            "fps": FPS,
            "max_frames_per_pass": self.max_frames,
            "frame_multiple": self.unit_length,
            "parameters": self.parameter_count(),
            "text_encoder": self.text_encoder.to_dict(),
            "provenance": self.provenance,
            "transformer": self.transformer.config.to_dict(),
            "tokenizer": self.tokenizer.config.to_dict(),
        }

    def replace_tokenizer(self, tokenizer: HRVQVAE, mean: np.ndarray, std: np.ndarray, provenance: dict) -> None:
        """Use a tokenizer whose decoder was refit: everything else of it must be ours exactly, or
        the transformer's tokens would mean other motions."""
        if tokenizer.config.to_dict() != self.tokenizer.config.to_dict():
            raise CheckpointError("the new tokenizer has another configuration than the checkpoint's")
        if not (np.array_equal(mean, self.mean) and np.array_equal(std, self.std)):
            raise CheckpointError("the new tokenizer has other normalisation statistics than the checkpoint's")
        ours = self.tokenizer.state_dict()
        changed = [key for key, value in tokenizer.state_dict().items()
                   if not key.startswith("decoder.") and not torch.equal(value.float(), ours[key].float())]
        if changed:
            raise CheckpointError(f"the new tokenizer's encoder or codebook differ ({changed[0]}, ...): only a "
                                  "refit decoder keeps the transformer's tokens valid")
        self.tokenizer.load_state_dict(tokenizer.state_dict())
        self.provenance = {**self.provenance, "decoder_refit": provenance}

    def to(self, device) -> "MoScaleModel":
        self.tokenizer.to(device)
        self.transformer.to(device)
        self.transformer.attach_codebook(self.tokenizer.quantizer.codebook)
        return self


def save_checkpoint(model: MoScaleModel, directory: Path, dtype: torch.dtype | None = None) -> Path:
    """Writes the checkpoint; dtype=torch.float16 halves the files (weights load back into float32)."""
    from .motion.skeleton import DEFAULT_REST_OFFSETS, JOINT_NAMES, PARENTS

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT,
        "version": VERSION,
        "name": model.name,
        "fps": FPS,
        "tokenizer": model.tokenizer.config.to_dict(),
        "transformer": model.transformer.config.to_dict(),
        "normalization": {"mean": model.mean.astype(float).tolist(), "std": model.std.astype(float).tolist()},
        "skeleton": {
            "joint_names": list(JOINT_NAMES),
            "parents": [int(p) for p in PARENTS],
            "rest_offsets": np.asarray(DEFAULT_REST_OFFSETS, dtype=float).tolist(),
        },
        "text_encoder": model.text_encoder.to_dict(),
        "provenance": model.provenance,
    }
    save_file(savable_state(model.tokenizer.state_dict(), dtype), str(directory / "tokenizer.safetensors"))
    save_file(savable_state(model.transformer.state_dict(), dtype), str(directory / "transformer.safetensors"))
    (directory / "config.json").write_text(json.dumps(config, indent=1))
    return directory


def savable_state(state: dict, dtype: torch.dtype | None = None) -> dict:
    """CPU, contiguous, detached tensors: what safetensors writes; floating ones cast to dtype if given."""
    def convert(value):
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        return value.contiguous()
    return {key: convert(value) for key, value in state.items()}


def save_tokenizer(tokenizer: HRVQVAE, mean: np.ndarray, std: np.ndarray, directory: Path,
                   provenance: dict | None = None) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "format": TOKENIZER_FORMAT,
        "version": VERSION,
        "tokenizer": tokenizer.config.to_dict(),
        "normalization": {"mean": mean.astype(float).tolist(), "std": std.astype(float).tolist()},
        "provenance": provenance or {},
    }
    save_file(savable_state(tokenizer.state_dict()), str(directory / "tokenizer.safetensors"))
    (directory / "config.json").write_text(json.dumps(config, indent=1))
    return directory


def load_tokenizer(directory: Path) -> tuple[HRVQVAE, np.ndarray, np.ndarray, dict]:
    """A tokenizer (from a tokenizer or a full checkpoint) with its normalisation and provenance."""
    directory = Path(directory)
    config = read_config(directory, (FORMAT, TOKENIZER_FORMAT))
    try:
        tokenizer_config = TokenizerConfig.from_dict(config["tokenizer"])
        mean = np.asarray(config["normalization"]["mean"], dtype=np.float32)
        std = np.asarray(config["normalization"]["std"], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory}/config.json is incomplete or malformed: {exc}") from exc
    tokenizer = build_tokenizer(tokenizer_config, _read_weights(directory / "tokenizer.safetensors"))
    return tokenizer.eval(), mean, std, config.get("provenance", {})


def read_config(directory: Path, formats: tuple[str, ...] = (FORMAT,)) -> dict:
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory {directory} does not exist")
    path = directory / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a MoScale checkpoint: no config.json")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    if config.get("format") not in formats:
        raise CheckpointError(
            f"{path} is a {config.get('format')!r} config, expected {' or '.join(formats)}; official checkpoints "
            "are converted once with `moscale import-official`"
        )
    if config.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} has format version {config['version']}; this MoScale reads up to {VERSION}")
    return config


def load_checkpoint(directory: Path, device: str | torch.device = "cpu") -> MoScaleModel:
    directory = Path(directory)
    config = read_config(directory)
    try:
        tokenizer_config = TokenizerConfig.from_dict(config["tokenizer"])
        transformer_config = TransformerConfig.from_dict(config["transformer"])
        mean = np.asarray(config["normalization"]["mean"], dtype=np.float32)
        std = np.asarray(config["normalization"]["std"], dtype=np.float32)
        text_spec = TextEncoderSpec.from_dict(config["text_encoder"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory}/config.json is incomplete or malformed: {exc}") from exc
    if mean.shape != (tokenizer_config.dim_pose,) or std.shape != mean.shape:
        raise CheckpointError(f"normalisation statistics must have {tokenizer_config.dim_pose} values")
    tokenizer = build_tokenizer(tokenizer_config, _read_weights(directory / "tokenizer.safetensors"))
    transformer = build_transformer(transformer_config, _read_weights(directory / "transformer.safetensors"), tokenizer)
    model = MoScaleModel(
        tokenizer=tokenizer.eval(), transformer=transformer.eval(), mean=mean, std=std, text_encoder=text_spec,
        name=config.get("name", directory.name), provenance=config.get("provenance", {}),
    )
    return model.to(device)


def _read_weights(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"missing weights file {path}")
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises several types for corrupt files
        raise CheckpointError(f"cannot read {path}: {exc}") from exc


def default_checkpoint_dir() -> Path:
    """The shipped default model (docs/model-card.md)."""
    directory = SHIPPED_DIR / "default"
    if not (directory / "config.json").is_file():
        raise CheckpointError(f"the shipped model is missing from {directory}; reinstall MoScale or pass --checkpoint DIR")
    return directory
