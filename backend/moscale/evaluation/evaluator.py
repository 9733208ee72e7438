"""The text–motion retrieval evaluator: two small encoders trained contrastively on a corpus.

The standard protocol embeds texts and motions with Guo et al.'s evaluator; that one reads GloVe
vectors and was trained on HumanML3D, neither of which we can ship, so we train our own on the
same folder layout. Text side: the masked mean of MiniLM's token states (exactly the sentence
embedding all-MiniLM-L6-v2 was trained to produce) and an MLP. Motion side: the 259 features
without foot contacts (what the standard evaluator sees), a 1-D conv that downsamples time by 4,
and a bidirectional GRU over the valid steps. Both end in 512-d.

Embeddings: training uses InfoNCE on cosine similarity, so only directions carry meaning. The
embeddings we hand to the metrics are therefore the unit vectors times a fixed `embedding_scale`
(10): Euclidean ranking then equals the cosine ranking the model was trained for, and FID, MM-Dist
and Diversity land in a readable range. Their absolute values are not comparable with numbers
published with Guo's evaluator; compare rows of one table (ground truth beside a model).
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ..checkpoint import savable_state
from ..data.humanml3d import MotionTextSampler, load_split, read_statistics
from ..model.quantizer import length_mask
from ..motion.features import FEATURE_DIM, FOOT_CONTACT
from ..text.encoders import TextEncoderSpec, load_text_encoder
from .metrics import r_precision

FORMAT = "moscale-evaluator"
VERSION = 1
MOTION_CHANNELS = FOOT_CONTACT.start  # 259: the foot contacts are left out, as in the standard evaluator
WEIGHTS = "evaluator.safetensors"


class EvaluatorError(ValueError):
    """An evaluator directory that is missing, incomplete or inconsistent."""


@dataclass
class EvaluatorConfig:
    text_dim: int = 384  # hidden size of the text encoder
    conv_width: int = 128
    gru_width: int = 128  # per direction
    embed_dim: int = 512
    embedding_scale: float = 10.0  # norm of every output embedding (see the module docstring)
    unit_length: int = 4  # frames per GRU step (the conv downsamples by this)
    max_frames: int = 196
    dropout: float = 0.1


def pool_tokens(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, L, D) token states, (B, L) bool mask -> (B, D) mean over the valid tokens."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class TextNet(nn.Module):
    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(config.text_dim, config.embed_dim), nn.LeakyReLU(0.2), nn.Dropout(config.dropout),
            nn.Linear(config.embed_dim, config.embed_dim), nn.LeakyReLU(0.2),
            nn.Linear(config.embed_dim, config.embed_dim),
        )

    def forward(self, pooled):  # (B, text_dim) -> (B, embed_dim) unit vectors
        return F.normalize(self.mlp(pooled), dim=-1)


class MotionNet(nn.Module):
    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        if config.unit_length != 4:
            raise EvaluatorError("the motion encoder's two stride-2 convolutions fix unit_length at 4")
        self.unit_length = config.unit_length
        self.conv = nn.Sequential(
            nn.Conv1d(MOTION_CHANNELS, config.conv_width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(config.dropout),
            nn.Conv1d(config.conv_width, config.conv_width, 4, 2, 1), nn.LeakyReLU(0.2),
        )
        self.gru = nn.GRU(config.conv_width, config.gru_width, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(
            nn.Linear(2 * config.gru_width, config.embed_dim), nn.LeakyReLU(0.2),
            nn.Linear(config.embed_dim, config.embed_dim),
        )

    def forward(self, features_norm, lengths):  # (B, T, 263 or 259), (B,) -> (B, embed_dim) unit vectors
        x = features_norm[..., :MOTION_CHANNELS].float()
        pad = -x.shape[1] % self.unit_length
        x = F.pad(x, (0, 0, 0, pad))
        # Zero past each length, so an embedding never depends on how long the batch was padded.
        x = x * length_mask(lengths, x.shape[1]).unsqueeze(-1)
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, T / 4, C)
        steps = (lengths // self.unit_length).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(h, steps, batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed)  # (2, B, H): final state of each direction
        return F.normalize(self.head(torch.cat([last[0], last[1]], dim=-1)), dim=-1)


class Evaluator(nn.Module):
    def __init__(self, config: EvaluatorConfig, mean: np.ndarray, std: np.ndarray,
                 text_encoder: TextEncoderSpec, provenance: dict | None = None):
        super().__init__()
        self.config = config
        self.mean = np.asarray(mean, dtype=np.float32)  # corpus statistics the motion side expects
        self.std = np.asarray(std, dtype=np.float32)
        self.text_encoder = text_encoder
        self.provenance = provenance or {}
        self.text_net = TextNet(config)
        self.motion_net = MotionNet(config)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def normalize(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=np.float32) - self.mean) / self.std

    def embed_text(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Text encoder states (B, L, text_dim) and mask (B, L) -> (B, embed_dim) metric embeddings."""
        return self.config.embedding_scale * self.text_net(pool_tokens(hidden.to(self.device), mask.to(self.device)))

    def embed_motion(self, features_norm: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Normalised features (B, T, 263), zero past each length, and lengths (B,) -> (B, embed_dim)."""
        return self.config.embedding_scale * self.motion_net(features_norm.to(self.device), lengths.to(self.device))

    @torch.inference_mode()
    def embed_captions(self, text_encoder, captions: list[str], batch_size: int = 256) -> np.ndarray:
        """Captions -> (N, embed_dim) numpy embeddings (text_encoder: the one this evaluator names)."""
        rows = []
        for begin in range(0, len(captions), batch_size):
            hidden, mask = text_encoder.encode(captions[begin:begin + batch_size])
            rows.append(self.embed_text(hidden, mask).cpu().numpy())
        return np.concatenate(rows)

    @torch.inference_mode()
    def embed_clips(self, clips: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """Raw feature clips (T_i, 263) -> (N, embed_dim) numpy embeddings, normalised here."""
        rows = []
        for begin in range(0, len(clips), batch_size):
            batch = clips[begin:begin + batch_size]
            motion = np.zeros((len(batch), max(len(c) for c in batch), FEATURE_DIM), dtype=np.float32)
            for row, clip in enumerate(batch):
                motion[row, :len(clip)] = self.normalize(clip)
            lengths = torch.tensor([len(c) for c in batch])
            rows.append(self.embed_motion(torch.from_numpy(motion), lengths).cpu().numpy())
        return np.concatenate(rows)


def save_evaluator(evaluator: Evaluator, directory: Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT,
        "version": VERSION,
        "config": asdict(evaluator.config),
        "normalization": {"mean": evaluator.mean.astype(float).tolist(), "std": evaluator.std.astype(float).tolist()},
        "text_encoder": evaluator.text_encoder.to_dict(),
        "provenance": evaluator.provenance,
    }
    state = savable_state(evaluator.state_dict())
    save_file(state, str(directory / WEIGHTS))
    (directory / "config.json").write_text(json.dumps(config, indent=1))
    return directory


def load_evaluator(directory: Path, device: str | torch.device = "cpu") -> Evaluator:
    """An evaluator saved by save_evaluator, in eval mode."""
    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / WEIGHTS
    for path in (config_path, weights_path):
        if not path.is_file():
            raise EvaluatorError(f"{directory} is not a MoScale evaluator: missing {path.name} "
                                 "(train one with `moscale train evaluator`)")
    try:
        data = json.loads(config_path.read_text())
        if data.get("format") != FORMAT or data.get("version", 0) > VERSION:
            raise EvaluatorError(f"{config_path} is not a {FORMAT} config of version <= {VERSION}")
        evaluator = Evaluator(EvaluatorConfig(**data["config"]), np.asarray(data["normalization"]["mean"]),
                              np.asarray(data["normalization"]["std"]),
                              TextEncoderSpec.from_dict(data["text_encoder"]), data.get("provenance", {}))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise EvaluatorError(f"{config_path} is malformed: {exc}") from exc
    if evaluator.mean.shape != (FEATURE_DIM,) or evaluator.std.shape != (FEATURE_DIM,):
        raise EvaluatorError(f"{config_path}: normalisation statistics must have {FEATURE_DIM} values")
    try:
        evaluator.load_state_dict(load_file(str(weights_path)), strict=True)
    except Exception as exc:  # safetensors and load_state_dict raise several types
        raise EvaluatorError(f"cannot load {weights_path}: {exc}") from exc
    return evaluator.to(device).eval()


# ----------------------------------------------------------------------------- training
def _pooled_captions(text_encoder, texts: list[str], log, batch_size: int = 256) -> tuple[dict, torch.Tensor]:
    """Encode every distinct caption once: (text -> row, (U, text_dim) pooled states).

    Captions repeat across clips and steps; keeping only the pooled vector (not the token states)
    keeps the table small enough for every caption of a 20 000-clip corpus.
    """
    unique = list(dict.fromkeys(texts))
    rows = []
    for begin in range(0, len(unique), batch_size):
        hidden, mask = text_encoder.encode(unique[begin:begin + batch_size])
        rows.append(pool_tokens(hidden, mask).cpu())
        if (begin // batch_size) % 20 == 19:
            log(f"encoded {min(begin + batch_size, len(unique))}/{len(unique)} captions")
    return {text: row for row, text in enumerate(unique)}, torch.cat(rows)


def contrastive_loss(text: torch.Tensor, motion: torch.Tensor, logit_scale: torch.Tensor,
                     caption_ids: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over unit vectors (B, D). Pairs sharing a caption are not negatives of each
    other: templated captions repeat, and pushing identical texts apart teaches nothing."""
    logits = logit_scale.clamp(max=math.log(100.0)).exp() * text @ motion.T
    same = (caption_ids[:, None] == caption_ids[None, :]) & ~torch.eye(len(text), dtype=torch.bool)
    logits = logits.masked_fill(same, float("-inf"))
    target = torch.arange(len(text))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


@torch.inference_mode()
def _validate(evaluator: Evaluator, sampler: MotionTextSampler, table: dict, pooled: torch.Tensor) -> np.ndarray:
    """Top-1/2/3 retrieval on the validation split, with fixed crops and captions."""
    evaluator.eval()
    rng, text, motion = np.random.default_rng(0), [], []
    for begin in range(0, len(sampler), 256):
        motions, lengths, texts = sampler.batch(np.arange(begin, min(begin + 256, len(sampler))), rng)
        text.append(evaluator.text_net(pooled[[table[t] for t in texts]]))
        motion.append(evaluator.motion_net(torch.from_numpy(motions), torch.from_numpy(lengths)))
    evaluator.train()
    return r_precision(torch.cat(text).numpy(), torch.cat(motion).numpy(), batch_size=min(32, len(sampler)))


def train_evaluator(data_dir: Path, out_dir: Path, steps: int = 2000, batch_size: int = 128, lr: float = 1e-3,
                    seed: int = 0, text_encoder=None, config: EvaluatorConfig | None = None,
                    validate_every: int = 250, log=print) -> Evaluator:
    """Train on the folder's train split, keep the weights with the best validation R-precision
    (mean of top-1/2/3), save them to `out_dir` and return the evaluator (eval mode).

    Cosine-warm-up schedule (5 % warm-up), AdamW, gradient clipping at 1. Runs on the CPU.
    """
    started = time.time()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean, std = read_statistics(data_dir)
    train_clips, val_clips = load_split(data_dir, "train"), load_split(data_dir, "val")
    text_encoder = text_encoder if text_encoder is not None else load_text_encoder(TextEncoderSpec())
    config = config or EvaluatorConfig(text_dim=text_encoder.dim)
    if config.text_dim != text_encoder.dim:
        raise EvaluatorError(f"config.text_dim {config.text_dim} does not match the text encoder's {text_encoder.dim}")
    spec = TextEncoderSpec.from_dict(text_encoder.spec.to_dict())
    evaluator = Evaluator(config, mean, std, spec).train()
    log(f"evaluator: {sum(p.numel() for p in evaluator.parameters()) / 1e6:.2f} M parameters, "
        f"{len(train_clips)} train / {len(val_clips)} val clips")

    texts = [c.text for clip in train_clips + val_clips for c in clip.captions]
    table, pooled = _pooled_captions(text_encoder, texts, log)
    train = MotionTextSampler(train_clips, mean, std, config.max_frames, config.unit_length)
    val = MotionTextSampler(val_clips, mean, std, config.max_frames, config.unit_length)

    decay = [p for p in evaluator.parameters() if p.ndim >= 2]
    no_decay = [p for p in evaluator.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=lr)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))

    batch_size = min(batch_size, len(train))
    best, best_state, losses = None, None, []
    for step in range(1, steps + 1):
        motions, lengths, captions = train.batch(rng.choice(len(train), batch_size, replace=False), rng)
        caption_ids = torch.tensor([table[c] for c in captions])
        text = evaluator.text_net(pooled[caption_ids])
        motion = evaluator.motion_net(torch.from_numpy(motions), torch.from_numpy(lengths))
        loss = contrastive_loss(text, motion, evaluator.logit_scale, caption_ids)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(evaluator.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == steps:
            log(f"evaluator step {step}/{steps} loss {np.mean(losses[-50:]):.4f} "
                f"temperature {1 / evaluator.logit_scale.exp().item():.3f} {time.time() - started:.0f} s")
        if step % validate_every == 0 or step == steps:
            top = _validate(evaluator, val, table, pooled)
            log(f"validation step {step}: R-precision top-1 {top[0]:.3f} top-2 {top[1]:.3f} top-3 {top[2]:.3f}")
            if best is None or top.mean() > best["val_mean"]:  # top-3 alone saturates on an easy corpus
                best = {"step": step, "val_top1": float(top[0]), "val_top2": float(top[1]), "val_top3": float(top[2]),
                        "val_mean": float(top.mean())}
                best_state = copy.deepcopy(evaluator.state_dict())

    evaluator.load_state_dict(best_state)
    evaluator.provenance = {
        "data_dir": str(Path(data_dir).resolve()), "steps": steps, "batch_size": batch_size, "lr": lr,
        "seed": seed, "train_clips": len(train_clips), "val_clips": len(val_clips), "captions": len(table),
        "final_loss": float(np.mean(losses[-50:])), "best": best, "wall_seconds": round(time.time() - started, 1),
        "losses": [round(value, 5) for value in losses],
    }
    save_evaluator(evaluator, out_dir)
    log(f"saved evaluator to {out_dir} (best validation top-1 {best['val_top1']:.3f}, top-3 {best['val_top3']:.3f} "
        f"at step {best['step']})")
    return evaluator.eval()
