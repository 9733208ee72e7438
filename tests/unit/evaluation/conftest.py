"""Shared fixtures: the real MiniLM encoder, a tiny HumanML3D-layout corpus and a tiny random checkpoint."""

import numpy as np
import pytest

from moscale.checkpoint import save_checkpoint
from moscale.text.encoders import TextEncoderSpec, load_text_encoder
from tiny_humanml3d import tiny_random_model, write_tiny_humanml3d

SPLITS = {"train": 64, "val": 16, "test": 32}


@pytest.fixture(scope="session")
def minilm():
    return load_text_encoder(TextEncoderSpec())


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return write_tiny_humanml3d(tmp_path_factory.mktemp("tiny_humanml3d"), SPLITS)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, corpus):
    """A random-weight tiny model for the MiniLM encoder, normalised with the corpus statistics."""
    model = tiny_random_model(np.load(corpus / "Mean.npy"), np.load(corpus / "Std.npy"))
    return save_checkpoint(model, tmp_path_factory.mktemp("checkpoint") / "tiny-random")
