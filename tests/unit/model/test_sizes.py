"""Every size comes from the config: the paper's model and small ones build with the right shapes."""

import torch

from moscale.model.config import paper_configs, small_configs, tiny_configs
from moscale.model.loading import build_tokenizer, build_transformer


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_paper_size_matches_the_released_model():
    tokenizer_config, transformer_config = paper_configs()
    tokenizer = build_tokenizer(tokenizer_config)
    transformer = build_transformer(transformer_config, None, tokenizer)
    assert _count(transformer) == 173_690_752  # the released state dict's trainable parameters
    assert abs(_count(tokenizer) - 32.06e6) < 0.01e6
    assert transformer.patch_sizes == [6, 12, 24, 49] and transformer.slot_count == 91
    state = transformer.state_dict()
    assert tuple(state["masked_blocks.0.attn.mat_qkv.weight"].shape) == (2304, 768)
    assert tuple(state["masked_blocks.15.ada_lin.1.weight"].shape) == (4608, 384)
    assert tuple(state["cfg_uncond"].shape) == (20, 768)


def test_small_and_tiny_sizes_run_a_forward_pass():
    for preset in (small_configs, tiny_configs):
        tokenizer_config, transformer_config = preset()
        tokenizer = build_tokenizer(tokenizer_config).eval()
        transformer = build_transformer(transformer_config, None, tokenizer).eval()
        motion = torch.randn(2, 196, 263)
        lengths = torch.tensor([196, 120])
        with torch.no_grad():
            ids, latents = tokenizer.tokenize(motion, lengths)
            hidden = torch.randn(2, 20, transformer_config.text_dim)
            context = transformer.text_context(hidden, torch.ones(2, 20, dtype=torch.bool))
            logits = transformer(torch.cat(ids, dim=1), latents[:-1], context)
            decoded = tokenizer.decode_indices(ids, lengths // 4)
        assert logits.shape == (2, transformer.slot_count, transformer_config.nb_code)
        assert decoded.shape == (2, 196, 263)
