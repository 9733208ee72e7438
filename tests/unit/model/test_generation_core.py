"""The next-scale sampling loop: KV cache exactness, block causality, guidance, seeds and batches."""

import torch

from moscale.generation.scales import SamplingOptions, apply_guidance, sample_scales
from moscale.model.quantizer import PAD_ID


def _run(tokenizer, transformer, hidden, mask, lengths, options, seeds, use_cache=True, guided=True):
    passes = []
    context = transformer.text_context(hidden, mask)
    null = transformer.text_context(hidden, mask, null_text=torch.ones(len(hidden), dtype=torch.bool))
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    with torch.no_grad():
        ids, f_hat = sample_scales(transformer, tokenizer.quantizer.scale_contribution, context,
                                   null if guided else None, torch.tensor(lengths), options, generators,
                                   use_cache=use_cache, on_pass=lambda raw: passes.append(raw.clone()))
    return ids, f_hat, passes


def test_kv_cache_gives_the_same_logits_as_full_recomputation(tiny_model, text_inputs):
    tokenizer, transformer = tiny_model
    hidden, mask = text_inputs(3)
    options = SamplingOptions(temperature=1e-6)
    cached = _run(tokenizer, transformer, hidden, mask, [49, 30, 16], options, [1, 2, 3], use_cache=True)
    full = _run(tokenizer, transformer, hidden, mask, [49, 30, 16], options, [1, 2, 3], use_cache=False)
    assert len(cached[2]) == len(full[2]) == 18
    for a, b in zip(cached[2], full[2]):
        assert torch.allclose(a, b, atol=1e-5, rtol=0), (a - b).abs().max()
    for a, b in zip(cached[0], full[0]):
        assert torch.equal(a, b)


def test_finer_tokens_never_change_coarser_logits(tiny_model, text_inputs):
    tokenizer, transformer = tiny_model
    hidden, mask = text_inputs(2)
    context = transformer.text_context(hidden, mask)
    sizes = transformer.patch_sizes
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, transformer.config.nb_code, (2, sum(sizes)), generator=g)
    latents = [torch.randn(2, transformer.config.code_dim, sizes[-1], generator=g) for _ in sizes[:-1]]
    with torch.no_grad():
        base = transformer(ids, latents, context)
        changed_ids = ids.clone()
        changed_ids[:, transformer.slot_offsets[2]:] = (changed_ids[:, transformer.slot_offsets[2]:] + 1) % 32
        changed = transformer(changed_ids, latents, context)
    coarse = transformer.slot_offsets[2]
    assert torch.equal(base[:, :coarse], changed[:, :coarse])
    assert not torch.allclose(base[:, coarse:], changed[:, coarse:])


def test_guidance_weight_zero_is_the_conditional_model(tiny_model, text_inputs):
    tokenizer, transformer = tiny_model
    raw = torch.randn(4, 6, 32)
    assert torch.equal(apply_guidance(raw, 2, 0.0), raw[:2])
    hidden, mask = text_inputs(2)
    lengths, seeds = [49, 40], [5, 6]
    zero = SamplingOptions(guidance_per_scale=[0.0] * 4)
    with_null = _run(tokenizer, transformer, hidden, mask, lengths, zero, seeds, guided=True)
    without_null = _run(tokenizer, transformer, hidden, mask, lengths, zero, seeds, guided=False)
    for a, b in zip(with_null[0], without_null[0]):
        assert torch.equal(a, b)
    assert with_null[2][0].shape[0] == 2  # no unconditional rows were computed
    guided = _run(tokenizer, transformer, hidden, mask, lengths, SamplingOptions(guidance=5.0), seeds)
    assert guided[2][0].shape[0] == 4


def test_same_seed_same_motion_whatever_else_is_in_the_batch(tiny_model, text_inputs):
    tokenizer, transformer = tiny_model
    hidden, mask = text_inputs(3, seed=4)
    options = SamplingOptions(temperature=1.0, top_p=0.9)
    alone = _run(tokenizer, transformer, hidden[1:2], mask[1:2], [36], options, [42])
    batched = _run(tokenizer, transformer, hidden, mask, [49, 36, 20], options, [7, 42, 9])
    again = _run(tokenizer, transformer, hidden, mask, [49, 36, 20], options, [7, 42, 9])
    for a, b, c in zip(alone[0], batched[0], again[0]):
        assert torch.equal(a[0], b[1])
        assert torch.equal(b, c)
    other_seed = _run(tokenizer, transformer, hidden[1:2], mask[1:2], [36], options, [43])
    assert any(not torch.equal(a, b) for a, b in zip(alone[0], other_seed[0]))


def test_padding_follows_the_length_at_every_scale(tiny_model, text_inputs):
    tokenizer, transformer = tiny_model
    hidden, mask = text_inputs(1)
    ids, _, _ = _run(tokenizer, transformer, hidden, mask, [25], SamplingOptions(), [0])
    for scale, scale_ids in zip(transformer.config.scales, ids):
        valid = 25 // scale
        assert (scale_ids[0, :valid] >= 0).all()
        assert (scale_ids[0, valid:] == PAD_ID).all()


def test_any_refinement_schedule_runs_that_many_passes(tiny_model, text_inputs):
    tokenizer, transformer = tiny_model
    hidden, mask = text_inputs(1)
    for schedule in ([1, 1, 1, 1], [2, 3, 1, 4]):
        _, _, passes = _run(tokenizer, transformer, hidden, mask, [49], SamplingOptions(schedule=schedule), [0])
        assert len(passes) == sum(schedule)
