import pytest
import torch

from moscale.model.config import tiny_configs
from moscale.model.loading import build_tokenizer, build_transformer


@pytest.fixture(scope="module")
def tiny_model():
    """Tiny tokenizer + transformer with random weights (a random codebook too, so codes differ)."""
    torch.manual_seed(0)
    tokenizer_config, transformer_config = tiny_configs()
    tokenizer = build_tokenizer(tokenizer_config).eval()
    with torch.no_grad():
        tokenizer.quantizer.codebook.normal_()
    transformer = build_transformer(transformer_config, None, tokenizer).eval()
    with torch.no_grad():  # larger AdaLN gains than the training init, so every block matters
        for block in transformer.masked_blocks:
            block.ada_lin[-1].weight.normal_(0, 0.05)
    return tokenizer, transformer


@pytest.fixture(scope="session")
def text_inputs():
    return make_text_inputs


def make_text_inputs(batch, text_dim=48, seed=0, length=20):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(batch, length, text_dim, generator=g)
    mask = torch.zeros(batch, length, dtype=torch.bool)
    for b in range(batch):
        mask[b, : 3 + (5 * b + seed) % (length - 3)] = True
    return hidden, mask
