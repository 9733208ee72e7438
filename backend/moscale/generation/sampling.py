"""Token sampling: temperature, top-k, top-p, and one random stream per request."""

from __future__ import annotations

import torch


def filter_logits(logits, temperature: float = 1.0, top_k: int = 0, top_p: float = 0.0):
    """(..., V) logits -> temperature-scaled logits with filtered entries at -inf (the argmax always survives)."""
    logits = logits / max(float(temperature), 1e-8)
    keep = torch.isfinite(logits)
    vocab = logits.shape[-1]
    if top_k and 0 < top_k < vocab:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        keep &= logits >= kth
    if top_p and 0.0 < top_p < 1.0:
        sorted_logits, order = logits.masked_fill(~keep, float("-inf")).sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        remove_sorted = cumulative > top_p
        remove_sorted[..., 0] = False
        keep &= ~torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    best = logits.argmax(-1, keepdim=True)
    keep |= torch.zeros_like(keep).scatter(-1, best, True) & ~keep.any(-1, keepdim=True)
    return logits.masked_fill(~keep, float("-inf"))


def sample(logits, generators, temperature: float = 1.0, top_k: int = 0, top_p: float = 0.0):
    """logits (B, L, V), one torch.Generator per row -> ids (B, L).

    Each row draws only from its own generator, so a request's tokens do not depend on what else
    is in the batch.
    """
    probs = filter_logits(logits.float(), temperature, top_k, top_p).softmax(-1)
    rows = [torch.multinomial(probs[b], 1, generator=generators[b])[:, 0] for b in range(probs.shape[0])]
    return torch.stack(rows)
