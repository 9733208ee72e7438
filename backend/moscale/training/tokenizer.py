"""`moscale train tokenizer`: the HRVQVAE on a HumanML3D-layout folder.

Objective as in the paper's code: SmoothL1 reconstruction of all 263 features plus 0.5 x SmoothL1
on the local joint positions (features 4:67) plus 0.02 x the commitment loss; the codebook follows
an EMA of the vectors assigned to it. AdamW (0.9, 0.99), gradient clipping 0.5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from ..checkpoint import save_tokenizer
from ..data.humanml3d import MotionTextSampler, load_split, read_statistics
from ..model.config import TokenizerConfig
from ..model.hrvqvae import HRVQVAE
from ..model.quantizer import length_mask
from ..motion.features import RIC
from .loop import LoopOptions, Task, train
from .run import Distributed, warmup_cosine

POSITION_WEIGHT = 0.5
COMMIT_WEIGHT = 0.02
VALIDATION_CLIPS = 512


def reconstruction_loss(prediction, target, lengths):
    """SmoothL1 over valid frames of all features, plus the weighted local-position term."""
    valid = length_mask(lengths, target.shape[1])[..., None].float()
    frames = valid.sum()

    def masked(a, b):
        return (F.smooth_l1_loss(a, b, reduction="none") * valid).sum() / (frames * a.shape[-1])

    return masked(prediction, target) + POSITION_WEIGHT * masked(prediction[..., RIC], target[..., RIC])


def train_tokenizer(data: Path, out: Path, config: TokenizerConfig, options: LoopOptions, batch_size: int,
                    dist: Distributed, window: int = 64) -> Path:
    """window: frames per training crop; the network is convolutional with masked attention, so short
    crops (as in MoMask's tokenizer training) cost a third of full 196-frame ones and learn the same codes."""
    if window % config.unit_length or not 0 < window <= config.max_motion_length:
        raise ValueError(f"window must be a multiple of {config.unit_length} up to {config.max_motion_length}")
    mean, std = read_statistics(data)
    train_clips, val_clips = load_split(data, "train"), load_split(data, "val")
    sampler = MotionTextSampler(train_clips, mean, std, window, config.unit_length)
    validation = MotionTextSampler(val_clips[:VALIDATION_CLIPS], mean, std, window, config.unit_length)
    torch.manual_seed(options.seed)
    model = HRVQVAE(config).to(dist.device)
    step_module = DistributedDataParallel(model) if dist.world_size > 1 else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, betas=(0.9, 0.99), weight_decay=0.0)
    per_rank = max(1, batch_size // dist.world_size)

    def loss(module, step, rng, generator):
        motion, lengths, _ = sampler.batch(rng.integers(len(sampler), size=per_rank), rng)
        motion, lengths = torch.from_numpy(motion).to(dist.device), torch.from_numpy(lengths).to(dist.device)
        reconstruction, commit, perplexity = module(motion, lengths)
        recon = reconstruction_loss(reconstruction, motion, lengths)
        return recon + COMMIT_WEIGHT * commit, {"reconstruction": recon.item(), "commit": commit.item(),
                                                "perplexity": perplexity.item()}

    def validate():
        rng = np.random.default_rng(options.seed)  # the same crops at every validation
        totals, batches = {"loss": 0.0, "perplexity": 0.0}, 0
        for begin in range(0, len(validation), per_rank):
            indices = range(begin, min(begin + per_rank, len(validation)))
            motion, lengths, _ = validation.batch(indices, rng)
            motion, lengths = torch.from_numpy(motion).to(dist.device), torch.from_numpy(lengths).to(dist.device)
            reconstruction, _, perplexity = model(motion, lengths)
            totals["loss"] += reconstruction_loss(reconstruction, motion, lengths).item()
            totals["perplexity"] += perplexity.item()
            batches += 1
        return {key: value / batches for key, value in totals.items()}

    def export(directory, step):
        save_tokenizer(model, mean, std, directory, provenance={"data": str(Path(data).resolve()),
                                                               "trained_steps": step, "planned_steps": options.steps})

    quantizer = model.quantizer

    def extra_state():
        if not quantizer.ema_ready:
            return {}
        return {"code_sum": quantizer.code_sum.cpu(), "code_count": quantizer.code_count.cpu()}

    def restore_extra(extra):
        if "code_sum" in extra:
            quantizer.code_sum = extra["code_sum"].to(dist.device)
            quantizer.code_count = extra["code_count"].to(dist.device)
            quantizer.ema_ready = True

    task = Task(model, step_module, optimizer,
                lambda step: warmup_cosine(step, options.steps, options.warmup, options.lr),
                loss, validate, export, extra_state, restore_extra)
    return train(task, options, out, dist)
