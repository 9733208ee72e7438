"""`moscale train tokenizer`: the HRVQVAE on a HumanML3D-layout folder.

Objective as in the paper's code: SmoothL1 reconstruction of all 263 features plus 0.5 x SmoothL1
on the local joint positions (features 4:67) plus 0.02 x the commitment loss; the codebook follows
an EMA of the vectors assigned to it. AdamW (0.9, 0.99), gradient clipping 0.5.

One addition: 5 x SmoothL1 on the four root channels (yaw velocity, XZ velocity, height). Without
it the decoder averages the rare fast turns away: our first default tokenizer rebuilt 180-degree
turns as 70 degrees (42 % of the heading change on the test split's turns), and every error there
is integrated into the whole trajectory. `refit_decoder` retrains just the decoder of a trained
tokenizer with this objective: the codes, and so a transformer trained on them, stay valid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from ..checkpoint import load_tokenizer, save_tokenizer
from ..data.humanml3d import MotionTextSampler, load_split, read_statistics
from ..model.config import TokenizerConfig
from ..model.hrvqvae import HRVQVAE
from ..model.quantizer import length_mask
from ..motion.features import RIC
from .loop import LoopOptions, Task, train
from .run import Distributed, warmup_cosine

POSITION_WEIGHT = 0.5
ROOT_WEIGHT = 5.0
ROOT = slice(0, 4)
COMMIT_WEIGHT = 0.02
VALIDATION_CLIPS = 512


def reconstruction_loss(prediction, target, lengths):
    """SmoothL1 over valid frames of all features, plus the weighted local-position and root terms."""
    valid = length_mask(lengths, target.shape[1])[..., None].float()
    frames = valid.sum()

    def masked(a, b):
        return (F.smooth_l1_loss(a, b, reduction="none") * valid).sum() / (frames * a.shape[-1])

    return (masked(prediction, target) + POSITION_WEIGHT * masked(prediction[..., RIC], target[..., RIC])
            + ROOT_WEIGHT * masked(prediction[..., ROOT], target[..., ROOT]))


def _trained_tokenizer(directory: Path, mean: np.ndarray, std: np.ndarray, data: Path) -> HRVQVAE:
    """A trained tokenizer (from a tokenizer or full checkpoint directory), in eval mode, which must
    have been trained with this data's normalisation."""
    tokenizer, its_mean, its_std, _ = load_tokenizer(directory)
    if not (np.allclose(its_mean, mean, atol=1e-5) and np.allclose(its_std, std, atol=1e-5)):
        raise ValueError(f"{directory} was trained with other normalisation statistics than {data}/Mean.npy, Std.npy")
    return tokenizer


def train_tokenizer(data: Path, out: Path, config: TokenizerConfig, options: LoopOptions, batch_size: int,
                    dist: Distributed, window: int = 64, refit_decoder: Path | None = None) -> Path:
    """window: frames per training crop; the network is convolutional with masked attention, so short
    crops (as in MoMask's tokenizer training) cost a third of full 196-frame ones and learn the same codes.
    refit_decoder: a trained tokenizer (or checkpoint) whose decoder alone is trained, from its weights,
    with its encoder and codebook frozen (in eval mode: nearest codes, no EMA), so its tokens do not
    change; its config replaces `config`."""
    mean, std = read_statistics(data)
    torch.manual_seed(options.seed)
    if refit_decoder is None:
        model = trained = HRVQVAE(config).to(dist.device)
    else:
        model = _trained_tokenizer(refit_decoder, mean, std, data).to(dist.device)
        config = model.config
        model.requires_grad_(False)
        trained = model.decoder.requires_grad_(True)
    if window % config.unit_length or not 0 < window <= config.max_motion_length:
        raise ValueError(f"window must be a multiple of {config.unit_length} up to {config.max_motion_length}")
    train_clips, val_clips = load_split(data, "train"), load_split(data, "val")
    sampler = MotionTextSampler(train_clips, mean, std, window, config.unit_length)
    validation = MotionTextSampler(val_clips[:VALIDATION_CLIPS], mean, std, window, config.unit_length)
    step_module = DistributedDataParallel(model) if dist.world_size > 1 else model
    optimizer = torch.optim.AdamW(trained.parameters(), lr=options.lr, betas=(0.9, 0.99), weight_decay=0.0)
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

    task = Task(trained, step_module, optimizer,
                lambda step: warmup_cosine(step, options.steps, options.warmup, options.lr),
                loss, validate, export, extra_state, restore_extra)
    return train(task, options, out, dist)
