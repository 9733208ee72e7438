"""`moscale batch --server` and `moscale generate --server` against a real server process."""

import json
import subprocess
import sys

import numpy as np
from moscale.cli import main
from moscale.motion.motion import load_motion

FAST = ["--schedule", "1,1,1,1"]


def test_batch_on_a_server_writes_files_and_a_manifest(server, tmp_path):
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("prompt,seconds,seed,name\na person walks,2,3,walk\na person waves,3,,\n,2,,\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "moscale.cli", "batch", str(prompts), "--out", str(out), "--format", "json",
               "--server", str(server.connection_file), *FAST]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr  # the empty prompt
    items = json.loads((out / "manifest.json").read_text())["items"]
    assert [(i["file"], i["status"], i["model"]) for i in items] == [
        ("walk.json", "ok", "moscale-default"), ("a_person_waves.json", "ok", "moscale-default"),
        ("motion.json", "failed", "")]
    walk = load_motion(out / "walk.json")
    assert walk.frame_count == 40 and walk.metadata["seed"] == 3 and walk.metadata["prompt"] == "a person walks"
    assert load_motion(out / "a_person_waves.json").metadata["seed"] == 1


def test_generate_on_a_server_matches_in_process(server, tmp_path):
    remote, local = tmp_path / "remote.npz", tmp_path / "local.npz"
    assert main(["generate", "a person jumps", "--seconds", "2", "--seed", "5", "--variations", "2",
                 "--server", str(server.connection_file), "--out", str(remote), *FAST]) == 0
    assert main(["generate", "a person jumps", "--seconds", "2", "--seed", "5", "--threads", "1",
                 "--out", str(local), *FAST]) == 0
    first, second = load_motion(tmp_path / "remote_01.npz"), load_motion(tmp_path / "remote_02.npz")
    assert (first.metadata["seed"], second.metadata["seed"]) == (5, 6)
    assert first.metadata["model"] == "moscale-default" and first.frame_count == 40
    np.testing.assert_allclose(first.positions, load_motion(local).positions, atol=1e-4)


def test_generate_on_a_missing_server_says_so(tmp_path, capsys):
    assert main(["generate", "x", "--server", str(tmp_path / "none.json"), "--out", str(tmp_path / "x.bvh")]) == 2
    assert "none.json" in capsys.readouterr().err
