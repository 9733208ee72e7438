"""The retrieval evaluator: trains on a tiny corpus, retrieves better than chance, saves and loads."""

import json

import numpy as np
import pytest
import torch

from moscale.data.humanml3d import load_split
from moscale.evaluation.evaluator import (
    EvaluatorConfig, EvaluatorError, contrastive_loss, load_evaluator, save_evaluator, train_evaluator,
)
from moscale.evaluation.metrics import r_precision

SMALL = EvaluatorConfig(conv_width=64, gru_width=64, embed_dim=128)


@pytest.fixture(scope="module")
def trained(corpus, minilm, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluator")
    lines = []
    evaluator = train_evaluator(corpus, out, steps=60, batch_size=16, lr=2e-3, text_encoder=minilm, config=SMALL,
                                validate_every=20, log=lines.append)
    return evaluator, out, lines


def embed_split(evaluator, minilm, corpus, split):
    clips = load_split(corpus, split)
    texts = evaluator.embed_captions(minilm, [clip.captions[0].text for clip in clips])
    return texts, evaluator.embed_clips([clip.features for clip in clips])


def test_training_lowers_the_loss_and_logs_validation(trained):
    evaluator, _, lines = trained
    losses = evaluator.provenance["losses"]
    assert len(losses) == 60
    # From about log(16) down towards the floor that indistinguishable same-class pairs leave.
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.4
    assert sum(line.startswith("validation step") for line in lines) == 3
    assert evaluator.provenance["best"]["step"] in (20, 40, 60)


def test_trained_evaluator_retrieves_the_right_class_on_held_out_clips(trained, minilm, corpus):
    evaluator, _, _ = trained
    texts, motions = embed_split(evaluator, minilm, corpus, "test")
    # Two classes with one caption each here: matching the class is the best possible, chance is 1/2.
    assert r_precision(texts, motions)[0] > 0.9
    norms = np.linalg.norm(motions, axis=1)
    np.testing.assert_allclose(norms, evaluator.config.embedding_scale, rtol=1e-5)


def test_motion_embedding_ignores_padding_and_foot_contacts(trained):
    evaluator, _, _ = trained
    motion = torch.randn(1, 120, 263)
    lengths = torch.tensor([96])
    base = evaluator.embed_motion(motion, lengths)
    padded = torch.cat([motion, torch.randn(1, 76, 263)], dim=1)
    padded[:, 96:120] = torch.randn(1, 24, 263)
    padded[..., 259:] = 5.0
    torch.testing.assert_close(evaluator.embed_motion(padded, lengths), base)


def test_save_and_load_round_trip(trained, minilm, corpus, tmp_path):
    evaluator, out, _ = trained
    loaded = load_evaluator(out)
    assert loaded.config == evaluator.config
    np.testing.assert_array_equal(loaded.mean, evaluator.mean)
    for a, b in zip(embed_split(loaded, minilm, corpus, "val"), embed_split(evaluator, minilm, corpus, "val")):
        np.testing.assert_allclose(a, b, atol=1e-5)
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "moscale-evaluator" and config["text_encoder"]["kind"] == "minilm"

    save_evaluator(evaluator, tmp_path / "copy")
    (tmp_path / "copy" / "evaluator.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(EvaluatorError, match="evaluator.safetensors"):
        load_evaluator(tmp_path / "copy")
    with pytest.raises(EvaluatorError, match="config.json"):
        load_evaluator(tmp_path / "nowhere")


def test_contrastive_loss_does_not_push_apart_pairs_with_the_same_caption():
    text = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), dim=-1)
    scale = torch.tensor(np.log(10.0))
    shared = contrastive_loss(text, text, scale, torch.tensor([0, 0, 1]))
    distinct = contrastive_loss(text, text, scale, torch.tensor([0, 1, 2]))
    assert shared < distinct
