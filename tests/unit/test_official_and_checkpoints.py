"""Official-weight import, the parity command, our checkpoint format, and their error messages."""

import shutil
from pathlib import Path

import pytest
import torch

from moscale.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from moscale.cli import main
from moscale.model.loading import WeightsMismatchError
from moscale.official import OfficialImportError, import_official, load_official
from moscale.parity import run_parity

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "official_parity"
TINY_A = FIXTURES / "tiny-a"


def _fixture_dirs():
    return sorted(p for p in FIXTURES.iterdir() if (p / "expected.npz").is_file())


@pytest.mark.parametrize("fixture", _fixture_dirs(), ids=lambda p: p.name)
def test_parity_passes_on_every_shipped_fixture(fixture):
    checks = run_parity(fixture)
    failed = [c.line() for c in checks if not c.passed]
    assert not failed, failed
    names = {c.name for c in checks}
    assert {"vq_ids_scale0", "gen_logits_pass17", "gen_ids_scale3", "gen_joints", "input_joints"} <= names


def test_parity_command_exit_status(capsys):
    assert main(["parity", str(TINY_A)]) == 0
    assert "0 failed" in capsys.readouterr().out


def test_parity_detects_a_wrong_weight(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(TINY_A, broken)
    path = broken / "moscale" / "model" / "net_best_fid.tar"
    blob = torch.load(path, weights_only=True)
    blob["moscale"]["head.bias"] += 0.5
    torch.save(blob, path)
    checks = {c.name: c for c in run_parity(broken)}
    assert not checks["gen_logits_pass00"].passed
    assert checks["vq_ids_scale0"].passed


def test_import_then_load_gives_identical_weights(tmp_path):
    out = import_official(TINY_A, tmp_path / "ckpt", text_encoder_path=tmp_path / "t5")
    model = load_checkpoint(out)
    _, _, tok_state, tr_state, mean, std, _ = load_official(TINY_A)
    for key, value in tok_state.items():
        assert torch.equal(model.tokenizer.state_dict()[key], value), key
    for key, value in tr_state.items():
        assert torch.equal(model.transformer.state_dict()[key], value), key
    assert model.text_encoder.kind == "t5" and model.text_encoder.dim == 48
    again = save_checkpoint(model, tmp_path / "again")
    reloaded = load_checkpoint(again)
    for key, value in model.transformer.state_dict().items():
        assert torch.equal(reloaded.transformer.state_dict()[key], value)
    assert (reloaded.mean == model.mean).all() and (reloaded.std == model.std).all()


def test_wrong_shape_official_file_is_a_clear_error(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(TINY_A, broken)
    path = broken / "hrvqvae" / "model" / "net_best_fid.tar"
    blob = torch.load(path, weights_only=True)
    blob["vq_model"]["quantizer.codebook"] = torch.zeros(10, 3)
    torch.save(blob, path)
    with pytest.raises(WeightsMismatchError, match="quantizer.codebook"):
        import_official(broken, tmp_path / "out")
    assert main(["import-official", str(broken), "--out", str(tmp_path / "out2")]) == 2


def test_missing_official_files_are_named(tmp_path):
    with pytest.raises(OfficialImportError, match="does not exist"):
        load_official(tmp_path / "nowhere")
    shutil.copytree(TINY_A, tmp_path / "partial")
    (tmp_path / "partial" / "std.npy").unlink()
    with pytest.raises(OfficialImportError, match="normalisation"):
        load_official(tmp_path / "partial")
    (tmp_path / "partial" / "moscale" / "train_moscale.yaml").write_text("- just a list\n")
    with pytest.raises(OfficialImportError, match="mapping"):
        load_official(tmp_path / "partial")


def test_unknown_checkpoint_path_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(tmp_path / "empty")
    assert main(["info", "--checkpoint", str(tmp_path / "missing")]) == 2


def test_pack_fp16_halves_the_files_and_loads_back_into_float32(tmp_path):
    source = import_official(TINY_A, tmp_path / "ckpt", text_encoder_path=tmp_path / "t5")
    assert main(["pack", str(source), "--out", str(tmp_path / "half"), "--fp16"]) == 0
    full, half = load_checkpoint(source), load_checkpoint(tmp_path / "half")
    for name in ("tokenizer", "transformer"):
        size_full = (source / f"{name}.safetensors").stat().st_size
        size_half = (tmp_path / "half" / f"{name}.safetensors").stat().st_size
        assert size_half < 0.6 * size_full
        for key, value in getattr(full, name).state_dict().items():
            packed = getattr(half, name).state_dict()[key]
            assert packed.dtype == value.dtype, key
            assert torch.allclose(packed, value, rtol=1e-3, atol=1e-4), key
    assert half.provenance["weights_dtype"] == "float16"
