"""Training-time pieces of MoScale: the corruptions that make next-scale prediction robust.

- scale-wise code perturbation with re-quantised labels (MultiScaleQuantizer.tokenize, perturb_rate);
- in-scale cosine masking with BERT-style corruption and context noise (mask_tokens);
- classifier-free-guidance dropout of the text (drop_text).
The training loops themselves live in the training package; these functions are what they call.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .quantizer import PAD_ID
from .transformer import MASK_ID

IGNORE_INDEX = -100
BERT_RANDOM = 0.1  # of the chosen slots: random id
BERT_MASK = 0.8  # of the chosen slots: MASK (the rest keep their id)
CONTEXT_NOISE = (0.0, 0.1)  # per batch: rate of random ids among the unmasked valid slots


def _uniform(shape, generator, device):
    return torch.rand(shape, generator=generator, device=device)


def mask_tokens(labels: torch.Tensor, nb_code: int, generator: torch.Generator | None = None):
    """labels (B, L) clean ids with -1 on padding -> (input_ids, targets).

    Each sample draws t ~ U(0, 1) and chooses round(L cos(pi t / 2)) (at least 1) slots among all L,
    kept where valid. Chosen slots become MASK (80 %), a random id (10 %) or stay (10 %); then a
    batch-wide rate q ~ U(0, 0.1) of the other valid non-MASK slots get random ids. Targets are the
    clean ids on chosen slots and IGNORE_INDEX elsewhere.
    """
    B, L = labels.shape
    device = labels.device
    valid = labels != PAD_ID
    ratio = torch.cos(_uniform((B,), generator, device) * math.pi * 0.5)
    count = (L * ratio).round().clamp(min=1)
    ranks = _uniform((B, L), generator, device).argsort(dim=-1)
    chosen = (ranks < count[:, None]) & valid

    random_ids = torch.randint(0, nb_code, (B, L), generator=generator, device=device)
    to_random = chosen & (_uniform((B, L), generator, device) < BERT_RANDOM)
    inputs = torch.where(to_random, random_ids, labels)
    to_mask = chosen & ~to_random & (_uniform((B, L), generator, device) < BERT_MASK / (1 - BERT_RANDOM))
    inputs = torch.where(to_mask, MASK_ID, inputs)

    low, high = CONTEXT_NOISE
    rate = low + (high - low) * _uniform((), generator, device).item()
    noise_ids = torch.randint(0, nb_code, (B, L), generator=generator, device=device)
    noisy = valid & ~to_mask & (_uniform((B, L), generator, device) < rate)
    inputs = torch.where(noisy, noise_ids, inputs)
    targets = torch.where(chosen, labels, IGNORE_INDEX)
    return inputs, targets


def drop_text(batch: int, probability: float, generator: torch.Generator | None = None, device=None):
    """(B,) bool: rows whose text is replaced by the learned null text (trains the unconditional branch)."""
    return _uniform((batch,), generator, device) < probability


def transformer_loss(transformer, tokenizer, motion, frame_lengths, text_hidden, text_mask,
                     perturb_rate=(0.0, 0.6), cond_drop=0.1, generator=None):
    """One teacher-forced training step's loss and token accuracy.

    motion (B, T, 263) normalised and zero past each length; the frozen tokenizer tokenises it on
    the fly so the scale-wise perturbation is fresh every step.
    """
    tokenizer.eval()
    labels_per_scale, f_hats = tokenizer.tokenize(motion, frame_lengths, perturb_rate, generator)
    labels = torch.cat(labels_per_scale, dim=1)
    inputs, targets = mask_tokens(labels, transformer.config.nb_code, generator)
    null_text = drop_text(labels.shape[0], cond_drop, generator, labels.device)
    context = transformer.text_context(text_hidden, text_mask, null_text=null_text)
    logits = transformer(inputs, f_hats[:-1], context)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX)
    scored = targets != IGNORE_INDEX
    accuracy = (logits.argmax(-1) == targets)[scored].float().mean()
    return loss, accuracy
