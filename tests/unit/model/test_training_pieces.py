"""Scale-wise perturbation with re-quantised labels, cosine/BERT masking, CFG dropout, EMA codebook."""

import math

import torch

from moscale.model.quantizer import PAD_ID, perturb_codes
from moscale.model.training import IGNORE_INDEX, drop_text, mask_tokens, transformer_loss
from moscale.model.transformer import MASK_ID


def _motion(batch, frames=196, seed=0):
    g = torch.Generator().manual_seed(seed)
    motion = torch.randn(batch, 196, 263, generator=g)
    lengths = torch.tensor([frames - 4 * b for b in range(batch)])
    motion[torch.arange(196)[None, :] >= lengths[:, None]] = 0
    return motion, lengths


def test_perturbation_swaps_for_a_different_code_and_only_on_valid_slots():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 16, (4, 49), generator=g)
    valid = torch.arange(49)[None, :] < torch.tensor([[49], [30], [10], [0]])
    swapped = perturb_codes(ids, valid, (1.0, 1.0), 16, g)
    assert ((swapped != ids) == valid).all()
    kept = perturb_codes(ids, valid, (0.0, 0.0), 16, g)
    assert torch.equal(kept, ids)


def test_perturbed_tokenisation_relabels_finer_scales_from_the_corrupted_residual(tiny_model):
    tokenizer, _ = tiny_model
    motion, lengths = _motion(2)
    clean, clean_latents = tokenizer.tokenize(motion, lengths)
    g = torch.Generator().manual_seed(3)
    labels, latents = tokenizer.tokenize(motion, lengths, perturb_rate=(1.0, 1.0), generator=g)
    assert torch.equal(labels[0], clean[0])  # the coarsest labels are the clean codes
    assert any(not torch.equal(a, b) for a, b in zip(labels[1:], clean[1:]))  # finer labels compensate
    assert not torch.allclose(latents[0], clean_latents[0])  # the fed latent carries the corruption
    for scale_labels, scale in zip(labels, tokenizer.config.scales):
        valid = (lengths // 4 // scale)[:, None] > torch.arange(scale_labels.shape[1])[None, :]
        assert ((scale_labels == PAD_ID) == ~valid).all()


def test_latent_from_indices_is_the_cumulative_reconstruction(tiny_model):
    tokenizer, _ = tiny_model
    motion, lengths = _motion(2)
    ids, latents = tokenizer.tokenize(motion, lengths)
    assert torch.allclose(tokenizer.quantizer.latent_from_indices(ids), latents[-1], atol=1e-6)


def test_mask_tokens_follows_the_cosine_schedule_and_bert_split():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 64, (4000, 91), generator=g)
    labels[:, 80:] = PAD_ID
    inputs, targets = mask_tokens(labels, 64, g)
    chosen = targets != IGNORE_INDEX
    assert not chosen[:, 80:].any() and (inputs[:, 80:] == PAD_ID).all()
    assert torch.equal(targets[chosen], labels[chosen])
    # expected chosen fraction of the 91 slots: E[cos(pi t / 2)] = 2 / pi
    assert abs(chosen.sum().item() / (4000 * 91) * 91 / 80 - 2 / math.pi) < 0.02
    masked = (inputs == MASK_ID)
    assert not (masked & ~chosen).any()
    assert abs(masked[chosen].float().mean().item() - 0.8) < 0.02
    unchanged = (inputs == labels) & chosen
    assert 0.08 < unchanged[chosen].float().mean().item() < 0.14  # 10 % kept, plus random hits


def test_drop_text_rate():
    g = torch.Generator().manual_seed(0)
    assert abs(drop_text(20000, 0.1, g).float().mean().item() - 0.1) < 0.01
    assert not drop_text(100, 0.0, g).any()


def test_transformer_loss_trains(tiny_model, text_inputs):
    tokenizer, transformer = tiny_model
    transformer.train()
    try:
        motion, lengths = _motion(3)
        hidden, mask = text_inputs(3)
        g = torch.Generator().manual_seed(1)
        loss, accuracy = transformer_loss(transformer, tokenizer, motion, lengths, hidden, mask, generator=g)
        assert math.isfinite(loss.item()) and 0 <= accuracy.item() <= 1
        loss.backward()
        assert transformer.head.weight.grad is not None and transformer.cfg_uncond.grad is not None
    finally:
        transformer.zero_grad(set_to_none=True)
        transformer.eval()


def test_ema_codebook_initialises_and_moves_in_training():
    from moscale.model.config import tiny_configs
    from moscale.model.loading import build_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer(tiny_configs()[0]).train()
    motion, lengths = _motion(4)
    before = tokenizer.quantizer.codebook.clone()
    reconstruction, commit, perplexity = tokenizer(motion, lengths)
    assert reconstruction.shape == motion.shape
    assert not torch.equal(before, tokenizer.quantizer.codebook)
    assert commit.item() > 0 and perplexity.item() >= 1
    (reconstruction.pow(2).mean() + commit).backward()
    assert tokenizer.encoder.embed[0].weight.grad is not None
