"""The next-scale sampling loop shared by generation and editing.

Per scale k, every editable slot starts as MASK; refinement step j re-masks the m_j least confident
editable slots (m_j = round(cos(pi/2 * j / (T_k - 1)) * P_k), at least 1) and predicts them again
with classifier-free guidance. Generation is the case where every valid slot is editable; editing
locks the context's tokens. With the KV cache, step 0 of scale k runs the finished scale k-1 and
scale k together on top of the cached coarser scales, and later steps run scale k alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..model.quantizer import PAD_ID, length_mask
from ..model.transformer import MASK_ID, MoScaleTransformer, TextContext
from .sampling import sample

LOCKED_SCORE = 1e5
DEFAULT_SCHEDULE = (1, 2, 5, 10)


class GenerationCancelled(Exception):
    """Raised between transformer passes when the caller's cancel check returns True."""


@dataclass
class SamplingOptions:
    """guidance: w of CFG; scale k uses w - 0.25 (k - 1) (the reference schedule) unless
    guidance_per_scale is given. guidance 0 turns guidance off (and skips the unconditional rows)."""

    guidance: float = 5.0
    guidance_per_scale: list[float] | None = None
    schedule: list[int] = field(default_factory=lambda: list(DEFAULT_SCHEDULE))
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.9

    def scale_guidance(self, n_scales: int) -> list[float]:
        if self.guidance_per_scale is not None:
            if len(self.guidance_per_scale) != n_scales:
                raise ValueError(f"guidance_per_scale needs {n_scales} values")
            return [float(w) for w in self.guidance_per_scale]
        if self.guidance == 0:
            return [0.0] * n_scales
        return [self.guidance - 0.25 * (k - 1) for k in range(n_scales)]

    def validate(self, n_scales: int):
        if len(self.schedule) != n_scales or any(int(s) < 1 for s in self.schedule):
            raise ValueError(f"schedule needs {n_scales} positive step counts, got {list(self.schedule)}")
        if not self.temperature > 0:
            raise ValueError("temperature must be > 0")
        if not 0.0 <= self.top_p <= 1.0:
            raise ValueError("top_p must be in [0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0")


@dataclass
class ScaleProgress:
    scale: int
    step: int
    steps_in_scale: int
    passes_done: int
    passes_total: int


def apply_guidance(raw: torch.Tensor, batch: int, weight: float) -> torch.Tensor:
    """Classifier-free guidance on stacked [conditional; unconditional] rows: (1 + w) c - w u."""
    return (1 + weight) * raw[:batch] - weight * raw[batch:]


def masked_counts(steps: int, patch_size: int) -> list[int]:
    """m_j for each refinement step, computed in float32 as the reference does."""
    times = torch.linspace(0, 1, steps)
    return [int(torch.round(torch.cos(t * math.pi * 0.5) * patch_size).clamp(min=1)) for t in times]


def sample_scales(
    transformer: MoScaleTransformer,
    codebook_lookup: Callable,
    context: TextContext,
    null_context: TextContext | None,
    latent_lengths: torch.Tensor,
    options: SamplingOptions,
    generators: list,
    source_ids: list[torch.Tensor] | None = None,
    editable: list[torch.Tensor] | None = None,
    use_cache: bool = True,
    on_pass: Callable | None = None,
    progress: Callable | None = None,
    cancel: Callable | None = None,
):
    """Sample every scale. Returns (ids per scale (B, P_k) with -1 on padding, final latent F-hat).

    codebook_lookup(scale_index, ids, length) gives a scale's contribution to F-hat (the tokenizer's
    quantizer.scale_contribution). source_ids/editable lock the context's tokens when editing.
    on_pass(raw_logits) sees each pass's head output for the current scale (conditional rows first).
    """
    patch_sizes = transformer.patch_sizes
    n_scales = len(patch_sizes)
    options.validate(n_scales)
    weights = options.scale_guidance(n_scales)
    guided = any(w != 0 for w in weights) and null_context is not None
    full = transformer.stack_contexts(context, null_context) if guided else context
    B = latent_lengths.shape[0]
    rows = 2 * B if guided else B
    latent_length = patch_sizes[-1]
    device = context.cond.device
    f_hat = torch.zeros(B, transformer.config.code_dim, latent_length, device=device)
    passes_total, passes_done = sum(int(s) for s in options.schedule), 0

    cache = None  # per-layer (k, v) of the finished scales whose keys never change again
    finished = []  # fused inputs (rows, P_j, width) of the finished scales, final ids in the token stream
    all_ids = []
    for k, size in enumerate(patch_sizes):
        start = transformer.slot_offsets[k]
        valid = length_mask(latent_lengths // transformer.config.scales[k], size)
        can_edit = valid if editable is None else editable[k].to(device) & valid
        ids = torch.full((B, size), MASK_ID, dtype=torch.long, device=device)
        if source_ids is not None:
            ids = torch.where(can_edit, ids, source_ids[k].to(device))
        ids = ids.masked_fill(~valid, PAD_ID)
        scores = torch.where(can_edit, 0.0, LOCKED_SCORE)
        features = full.sos if k == 0 else transformer.scale_features(f_hat, k).repeat(rows // B, 1, 1)

        def fused(token_ids):
            return transformer.fuse(features, transformer.token_features(token_ids).repeat(rows // B, 1, 1), start)

        for step, count in enumerate(masked_counts(int(options.schedule[k]), size)):
            if cancel is not None and cancel():
                raise GenerationCancelled()
            ranks = scores.argsort(dim=1).argsort(dim=1)
            is_mask = (ranks < count) & can_edit
            ids = torch.where(is_mask, MASK_ID, ids)
            h = fused(ids)
            if not use_cache:
                h, _ = transformer.run_blocks(torch.cat(finished + [h], dim=1), 0, full)
                h = h[:, start:]
            elif step == 0 and k > 0:
                # the previous scale's keys changed with its final ids: run it once more, then cache it
                previous = finished[-1]
                h, kv = transformer.run_blocks(torch.cat((previous, h), dim=1), transformer.slot_offsets[k - 1],
                                               full, cache)
                n = previous.shape[1]
                cache = _extend_cache(cache, [(key[:, :, :n], value[:, :, :n]) for key, value in kv])
                h = h[:, n:]
            else:
                h, _ = transformer.run_blocks(h, start, full, cache)
            raw = transformer.logits(h, full.cond)
            if on_pass is not None:
                on_pass(raw)
            logits = apply_guidance(raw, B, weights[k]) if guided else raw
            predicted = sample(logits, generators, options.temperature, options.top_k, options.top_p)
            ids = torch.where(is_mask, predicted, ids)
            confidence = logits.softmax(-1).gather(-1, predicted[..., None])[..., 0]
            scores = confidence.masked_fill(~is_mask, LOCKED_SCORE)
            passes_done += 1
            if progress is not None:
                progress(ScaleProgress(k, step, int(options.schedule[k]), passes_done, passes_total))

        ids = ids.masked_fill(~valid, PAD_ID)
        all_ids.append(ids)
        f_hat = f_hat + codebook_lookup(k, ids, latent_length)
        if k < n_scales - 1:
            finished.append(fused(ids))
    return all_ids, f_hat


def _extend_cache(cache, new):
    if cache is None:
        return new
    return [(torch.cat((k, nk), dim=2), torch.cat((v, nv), dim=2)) for (k, v), (nk, nv) in zip(cache, new)]
