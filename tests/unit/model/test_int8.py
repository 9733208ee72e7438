"""The int8 CPU path: runs a whole generation, stays close to fp32, leaves the fp32 model alone."""

import copy

import pytest
import torch

from moscale.generation.scales import SamplingOptions, sample_scales
from moscale.model.int8 import int8_agreement, quantize_int8


@pytest.fixture(scope="module")
def int8_model(tiny_model):
    return quantize_int8(tiny_model[1])


def _contexts(transformer, text_inputs, batch=2):
    hidden, mask = text_inputs(batch)
    context = transformer.text_context(hidden, mask)
    null = transformer.text_context(hidden, mask, null_text=torch.ones(batch, dtype=torch.bool))
    return context, null


def test_original_model_is_untouched(tiny_model):
    _, transformer = tiny_model
    before = copy.deepcopy(transformer.state_dict())
    quantized = quantize_int8(transformer)
    assert type(transformer.head) is torch.nn.Linear
    assert type(transformer.masked_blocks[0].ffn.fc1) is torch.nn.Linear
    assert quantized.head is not transformer.head
    after = transformer.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)


def test_int8_model_runs_a_full_generation(tiny_model, int8_model, text_inputs):
    tokenizer, transformer = tiny_model
    context, null = _contexts(int8_model, text_inputs)
    lengths = torch.tensor([49, 30])
    generators = [torch.Generator().manual_seed(s) for s in (1, 2)]
    with torch.inference_mode():
        ids, f_hat = sample_scales(int8_model, tokenizer.quantizer.scale_contribution, context, null, lengths,
                                   SamplingOptions(), generators)
    assert [tuple(i.shape) for i in ids] == [(2, p) for p in transformer.patch_sizes]
    assert (ids[-1][1, 30:] == -1).all() and (ids[-1][1, :30] >= 0).all()
    assert f_hat.shape == (2, transformer.config.code_dim, 49) and torch.isfinite(f_hat).all()


def test_int8_logits_stay_close_to_fp32(tiny_model, int8_model, text_inputs):
    _, transformer = tiny_model
    context, _ = _contexts(transformer, text_inputs)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, transformer.config.nb_code, (2, transformer.slot_count), generator=g)
    latents = [torch.randn(2, transformer.config.code_dim, 49, generator=g) for _ in transformer.patch_sizes[1:]]
    with torch.inference_mode():
        fp32, int8 = transformer(ids, latents, context), int8_model(ids, latents, context)
    assert (int8 - fp32).abs().max() <= 0.1 * fp32.abs().max()
    assert (int8.argmax(-1) == fp32.argmax(-1)).float().mean() > 0.7


def test_agreement_report(tiny_model, int8_model, text_inputs):
    tokenizer, transformer = tiny_model
    context, null = _contexts(transformer, text_inputs)
    report = int8_agreement(transformer, int8_model, tokenizer.quantizer.scale_contribution, context, null,
                            torch.tensor([49, 30]), SamplingOptions())
    assert 0 < report["max_relative_error"] < 0.2
    assert 0.5 < report["argmax_agreement"] <= 1
    assert len(report["token_match_per_scale"]) == len(transformer.patch_sizes)
    assert 0 <= report["token_match"] <= 1
