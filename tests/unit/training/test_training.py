"""Training both networks on a tiny folder: losses fall, resume replays exactly, torchrun with 2 processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from moscale.checkpoint import load_checkpoint, load_tokenizer
from moscale.cli import main
from tiny_humanml3d import write_tiny_humanml3d


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_humanml3d(tmp_path_factory.mktemp("hml"))


def _losses(run: Path, split="train"):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["split"] == split]


def _train(network, data, out, steps, *extra, batch_size=16):
    argv = ["train", network, "--data", str(data), "--out", str(out), "--size", "tiny", "--steps", str(steps),
            "--batch-size", str(batch_size), "--warmup", "5", "--lr", "3e-3", "--log-every", "1", "--val-every", "10",
            "--checkpoint-every", "10", *extra]
    assert main(argv) == 0


@pytest.fixture(scope="module")
def tokenizer_run(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("tokenizer")
    _train("tokenizer", data, run, 100, batch_size=32)
    return run


def test_tokenizer_loss_decreases_and_best_loads(tokenizer_run):
    losses = _losses(tokenizer_run)
    assert len(losses) == 100
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10
    tokenizer, mean, std, _ = load_tokenizer(tokenizer_run / "best")
    assert mean.shape == (263,) and tokenizer.quantizer.codebook.abs().sum() > 0
    assert (tokenizer_run / "curves_train.png").stat().st_size > 1000


@pytest.fixture(scope="module")
def transformer_run(data, tokenizer_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("transformer")
    _train("transformer", data, run, 60, "--tokenizer", str(tokenizer_run / "best"))
    return run


def test_transformer_loss_decreases_and_the_result_generates(transformer_run, tmp_path):
    losses = _losses(transformer_run)
    assert sum(losses[-10:]) / 10 < 0.9 * sum(losses[:10]) / 10
    model = load_checkpoint(transformer_run / "best")
    assert model.transformer.config.text_dim == 384
    out = tmp_path / "walk.npz"
    assert main(["generate", "a person walks straight forward", "--checkpoint", str(transformer_run / "best"),
                 "--seconds", "3", "--schedule", "1,1,1,1", "--out", str(out)]) == 0
    assert out.stat().st_size > 0


def test_a_refit_decoder_keeps_the_tokens_and_packs_into_the_checkpoint(data, tokenizer_run, transformer_run,
                                                                         tmp_path):
    checkpoint = transformer_run / "best"
    _train("tokenizer", data, tmp_path / "refit", 20, "--refit-decoder", str(checkpoint))
    before, refit = load_checkpoint(checkpoint).tokenizer, load_tokenizer(tmp_path / "refit" / "best")[0]
    motion = torch.randn(2, 40, 263)
    lengths = torch.tensor([40, 32])
    for a, b in zip(before.tokenize(motion, lengths)[0], refit.tokenize(motion, lengths)[0]):
        assert torch.equal(a, b)
    assert any(not torch.equal(p, q) for p, q in zip(before.decoder.parameters(), refit.decoder.parameters()))

    assert main(["pack", str(checkpoint), "--tokenizer", str(tmp_path / "refit" / "best"),
                 "--out", str(tmp_path / "packed")]) == 0
    packed = load_checkpoint(tmp_path / "packed")
    for p, q in zip(packed.tokenizer.parameters(), refit.parameters()):
        assert torch.equal(p, q)
    assert "decoder_refit" in packed.provenance
    other = tmp_path / "other"
    _train("tokenizer", data, other, 2)
    assert main(["pack", str(checkpoint), "--tokenizer", str(other / "best"), "--out", str(tmp_path / "bad")]) == 2


def test_resume_replays_the_same_steps(data, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _train("tokenizer", data, straight, 14)
    _train("tokenizer", data, resumed, 14, "--stop-at", "10")
    assert len(_losses(resumed)) == 10
    _train("tokenizer", data, resumed, 14)
    a = torch.load(straight / "last.pt", weights_only=True)["model"]
    b = torch.load(resumed / "last.pt", weights_only=True)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert _losses(straight)[-4:] == _losses(resumed)[-4:]


def test_corrupt_resume_state_is_an_error_not_a_silent_restart(data, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"not a checkpoint")
    assert main(["train", "tokenizer", "--data", str(data), "--out", str(run), "--size", "tiny", "--steps", "2"]) == 2
    assert "cannot resume" in capsys.readouterr().err
    assert (run / "last.pt").read_bytes() == b"not a checkpoint"


def test_two_process_torchrun(data, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "moscale.cli",
         "train", "tokenizer", "--data", str(data), "--out", str(run), "--size", "tiny", "--steps", "4",
         "--batch-size", "8", "--log-every", "1", "--val-every", "4", "--checkpoint-every", "4"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(_losses(run)) == 4 and (run / "best" / "tokenizer.safetensors").is_file()
