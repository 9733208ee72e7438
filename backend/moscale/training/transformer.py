"""`moscale train transformer`: the next-scale transformer on top of a trained, frozen tokenizer.

Each step tokenises its batch afresh with scale-wise code perturbation (labels re-quantised from the
corrupted residual), masks tokens with the cosine schedule plus BERT corruption and context noise,
and drops the text to the learned null text 10 % of the time (model.training.transformer_loss).
AdamW (0.9, 0.98) with weight decay on matrices only, warm-up then cosine, gradient clipping 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..checkpoint import MoScaleModel, load_tokenizer, save_checkpoint
from ..data.humanml3d import MotionTextSampler, load_split
from ..model.config import TransformerConfig
from ..model.training import transformer_loss
from ..model.transformer import MoScaleTransformer
from ..text.encoders import TextEncoderSpec, load_text_encoder
from .loop import LoopOptions, Task, train
from .run import Distributed, warmup_cosine

VALIDATION_CLIPS = 512
NO_DECAY = ("cfg_uncond", "pos_start", "lvl_embed", "token_emb", "q_tokens", "norm", "bias", "embedding",
            "scale_mul")


class TransformerObjective(torch.nn.Module):
    """The whole training forward in one module, so DistributedDataParallel sees every parameter used."""

    def __init__(self, transformer: MoScaleTransformer, tokenizer):
        super().__init__()
        self.transformer, self.tokenizer = transformer, tokenizer

    def forward(self, motion, lengths, hidden, mask, generator, perturb_rate=(0.0, 0.6), cond_drop=0.1):
        return transformer_loss(self.transformer, self.tokenizer, motion, lengths, hidden, mask,
                                perturb_rate, cond_drop, generator)


class CaptionCache:
    """Text-encoder outputs per caption, computed once: captions repeat every epoch."""

    def __init__(self, encoder, device):
        self.encoder, self.device, self.store = encoder, device, {}

    def encode(self, captions):
        missing = list(dict.fromkeys(c for c in captions if c not in self.store))
        if missing:
            hidden, mask = self.encoder.encode(missing)
            for caption, h, m in zip(missing, hidden.half().cpu(), mask.cpu()):
                self.store[caption] = (h, m)
        hidden = torch.stack([self.store[c][0] for c in captions]).float().to(self.device)
        mask = torch.stack([self.store[c][1] for c in captions]).to(self.device)
        return hidden, mask


def parameter_groups(model: torch.nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        skip = parameter.ndim < 2 or any(key in name for key in NO_DECAY)
        (no_decay if skip else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_transformer(data: Path, tokenizer_dir: Path, out: Path, config: TransformerConfig, options: LoopOptions,
                      batch_size: int, dist: Distributed, text_spec: TextEncoderSpec | None = None,
                      name: str = "moscale", weight_decay: float = 0.05) -> Path:
    tokenizer, mean, std, tokenizer_provenance = load_tokenizer(tokenizer_dir)
    tokenizer = tokenizer.to(dist.device).requires_grad_(False)
    text_spec = text_spec or TextEncoderSpec()
    encoder = load_text_encoder(text_spec, dist.device)
    text_spec.dim = config.text_dim = encoder.dim  # the text width is the encoder's, not a free choice
    if (config.code_dim, config.nb_code) != (tokenizer.config.code_dim, tokenizer.config.nb_code):
        raise ValueError(f"transformer config expects codes {config.code_dim}x{config.nb_code}; the tokenizer has "
                         f"{tokenizer.config.code_dim}x{tokenizer.config.nb_code}")
    captions = CaptionCache(encoder, dist.device)
    train_clips, val_clips = load_split(data, "train"), load_split(data, "val")
    sampler = MotionTextSampler(train_clips, mean, std, tokenizer.config.max_motion_length, tokenizer.config.unit_length)
    validation = MotionTextSampler(val_clips[:VALIDATION_CLIPS], mean, std, tokenizer.config.max_motion_length,
                                   tokenizer.config.unit_length)
    torch.manual_seed(options.seed)
    transformer = MoScaleTransformer(config).to(dist.device)
    transformer.attach_codebook(tokenizer.quantizer.codebook)
    objective = TransformerObjective(transformer, tokenizer)
    step_module = DistributedDataParallel(objective) if dist.world_size > 1 else objective
    optimizer = torch.optim.AdamW(parameter_groups(transformer, weight_decay), lr=options.lr, betas=(0.9, 0.98))
    per_rank = max(1, batch_size // dist.world_size)

    def batch(indices, rng, sampler_):
        motion, lengths, texts = sampler_.batch(indices, rng)
        hidden, mask = captions.encode(texts)
        return torch.from_numpy(motion).to(dist.device), torch.from_numpy(lengths).to(dist.device), hidden, mask

    def loss(module, step, rng, generator):
        loss_value, accuracy = module(*batch(rng.integers(len(sampler), size=per_rank), rng, sampler), generator)
        return loss_value, {"accuracy": accuracy.item()}

    def validate():
        rng = np.random.default_rng(options.seed)
        generator = torch.Generator(dist.device).manual_seed(options.seed)
        totals, batches = {"loss": 0.0, "accuracy": 0.0}, 0
        for begin in range(0, len(validation), per_rank):
            indices = range(begin, min(begin + per_rank, len(validation)))
            loss_value, accuracy = objective(*batch(indices, rng, validation), generator, (0.0, 0.0), 0.0)
            totals["loss"] += loss_value.item()
            totals["accuracy"] += accuracy.item()
            batches += 1
        return {key: value / batches for key, value in totals.items()}

    def export(directory, step):
        provenance = {"data": str(Path(data).resolve()), "tokenizer": tokenizer_provenance,
                      "trained_steps": step, "planned_steps": options.steps, "batch_size": batch_size}
        model = MoScaleModel(tokenizer, transformer, mean, std, text_spec, name=name, provenance=provenance)
        save_checkpoint(model, directory)

    task = Task(transformer, step_module, optimizer,
                lambda step: warmup_cosine(step, options.steps, options.warmup, options.lr),
                loss, validate, export)
    return train(task, options, out, dist)
