"""CPU int8 path: dynamic int8 quantisation of the transformer's big matrix multiplies, and its quality check.

Weights are quantised once per output channel; activations are quantised per call (fbgemm's dynamic
linear), which on an AVX2 CPU runs about twice the fp32 matmul rate. Only the per-token Linears of
the blocks and the head are converted: they hold almost all the FLOPs. The AdaLN linears (gates and
modulations computed once per pass from the pooled text), the text pool, the text projections and
the embeddings stay fp32: they cost little and errors there reach every token.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn as nn

from ..generation.scales import apply_guidance, sample_scales
from .quantizer import PAD_ID
from .transformer import MASK_ID, MoScaleTransformer


class Int8UnavailableError(RuntimeError):
    """This torch build cannot run dynamic int8 linears on the CPU."""


def int8_layer_names(transformer: nn.Module) -> set[str]:
    """The per-token Linears: self-attention qkv/proj, cross-attention q/proj, FFN, head."""
    names = {"head"}
    for i, block in enumerate(transformer.masked_blocks):
        prefix = f"masked_blocks.{i}"
        names |= {f"{prefix}.attn.mat_qkv", f"{prefix}.attn.proj", f"{prefix}.ffn.fc1", f"{prefix}.ffn.fc2"}
        if block.use_crossattn:
            names |= {f"{prefix}.ca.mat_q", f"{prefix}.ca.proj"}
    return names


def quantize_int8(transformer: MoScaleTransformer) -> MoScaleTransformer:
    """An inference-only copy of the transformer with int8 dynamic Linears; the original is untouched."""
    if "fbgemm" not in torch.backends.quantized.supported_engines and \
            "x86" not in torch.backends.quantized.supported_engines:
        raise Int8UnavailableError("this torch build has no x86/fbgemm quantized engine; use precision fp32")
    model = copy.deepcopy(transformer).eval()
    # torch.ao.quantization is deprecated in favour of torchao, which is not a dependency; its
    # fbgemm kernels are still the fastest int8 path on CPUs without VNNI/AMX.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        spec = {name: per_channel_dynamic_qconfig for name in int8_layer_names(model)}
        quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
    return model


@torch.inference_mode()
def int8_agreement(fp32: MoScaleTransformer, int8: MoScaleTransformer, codebook_lookup, context, null_context,
                   latent_lengths: torch.Tensor, options, seed: int = 0, mask_fraction: float = 0.5) -> dict:
    """How far int8 drifts from fp32, on identical inputs and over a whole generation.

    Identical inputs: both models score the fp32 generation's tokens with a seeded `mask_fraction` of
    them masked (as during refinement), with guidance applied as in sampling. Reports the max absolute
    error relative to the largest fp32 logit and the fraction of slots whose argmax agrees.
    Whole generation: both models sample with the same seeds; the fraction of identical tokens per
    scale shows how soon the streams part (a single flipped draw changes everything after it).
    """
    def generate(model):
        generators = [torch.Generator().manual_seed(seed + b) for b in range(latent_lengths.shape[0])]
        return sample_scales(model, codebook_lookup, context, null_context, latent_lengths, options, generators)

    ids32, _ = generate(fp32)
    ids8, _ = generate(int8)
    token_match = [float((a == b)[a != PAD_ID].float().mean()) for a, b in zip(ids32, ids8)]

    n_scales = len(ids32)
    length = fp32.patch_sizes[-1]
    f_hats, f_hat = [], 0
    for k in range(n_scales - 1):
        f_hat = f_hat + codebook_lookup(k, ids32[k], length)
        f_hats.append(f_hat)
    input_ids = torch.cat(ids32, dim=1)
    generator = torch.Generator().manual_seed(seed)
    masked = (torch.rand(input_ids.shape, generator=generator) < mask_fraction) & (input_ids >= 0)
    input_ids = input_ids.masked_fill(masked, MASK_ID)

    weights = options.scale_guidance(n_scales)
    guided = null_context is not None and any(w != 0 for w in weights)
    full = fp32.stack_contexts(context, null_context) if guided else context
    rows = 2 if guided else 1
    slot_weights = torch.tensor(weights, device=input_ids.device)[fp32.slot_level][None, :, None]

    def scored(model):
        raw = model(input_ids.repeat(rows, 1), [f.repeat(rows, 1, 1) for f in f_hats], full)
        return apply_guidance(raw, input_ids.shape[0], slot_weights) if guided else raw

    logits32, logits8 = scored(fp32), scored(int8)
    valid = input_ids != PAD_ID
    return {
        "max_relative_error": float((logits8 - logits32).abs().max() / logits32.abs().max()),
        "argmax_agreement": float((logits8.argmax(-1) == logits32.argmax(-1))[valid].float().mean()),
        "token_match_per_scale": token_match,
        "token_match": float(sum(m * p for m, p in zip(token_match, fp32.patch_sizes)) / sum(fp32.patch_sizes)),
    }
