"""`moscale batch` in-process with the shipped default checkpoint: prompt files, names, manifest, resume."""

import json

import pytest
from moscale.batch import PromptFileError, read_prompts, safe_name
from moscale.cli import main
from moscale.generation.generator import MotionGenerator
from moscale.motion.motion import load_motion

FAST = ["--schedule", "1,1,1,1", "--threads", "1"]


def write(path, text):
    path.write_text(text)
    return path


def manifest(folder):
    return json.loads((folder / "manifest.json").read_text())["items"]


def test_txt_skips_blanks_and_comments_and_numbers_seeds(tmp_path):
    items = read_prompts(write(tmp_path / "p.txt", "a walk\n\n  # note\n  A Walk \nUne pirouette élégante\n"),
                         seconds=3, seed=10)
    assert [(i.line, i.prompt, i.seconds, i.seed, i.file) for i in items] == [
        (1, "a walk", 3.0, 10, "a_walk"), (4, "A Walk", 3.0, 11, "a_walk_2"),
        (5, "Une pirouette élégante", 3.0, 12, "une_pirouette_elegante")]
    assert not any(i.error for i in items)


def test_jsonl_and_csv_fields_names_and_item_errors(tmp_path):
    jsonl = write(tmp_path / "p.jsonl", '{"prompt": "a run", "seconds": 2.5, "seed": 7, "name": "Run 01"}\n\n'
                                        '{"prompt": "a run"}\n{"prompt": ""}\n{"prompt": "x", "seconds": "long"}\n'
                                        '{"prompt": "x", "name": "../escape"}\n{"prompt": "x", "seconds": 1}\n'
                                        '{"prompt": "y", "name": "run 01"}\n')
    items = read_prompts(jsonl)
    assert (items[0].file, items[0].seconds, items[0].seed) == ("Run 01", 2.5, 7)
    assert (items[1].file, items[1].seed, items[1].error) == ("a_run", 1, "")
    assert items[2].error == "empty prompt"
    assert "seconds" in items[3].error
    assert "not a plain file name" in items[4].error and items[4].file == ""
    assert "too short" in items[5].error
    assert "already used by line 1" in items[6].error
    csv = write(tmp_path / "p.csv", 'prompt,seconds,seed,name\n"a kick, then a bow",3,,\nmanifest,,5,\n'
                                    'a jump,abc,,\n')
    items = read_prompts(csv, seconds=4)
    assert (items[0].prompt, items[0].seconds, items[0].seed, items[0].file) == ("a kick, then a bow", 3.0, 0,
                                                                                 "a_kick_then_a_bow")
    assert (items[1].seed, items[1].file) == (5, "manifest_2")  # never the manifest's own name
    assert items[2].line == 4 and "seconds" in items[2].error


@pytest.mark.parametrize("name, text, fragment", [
    ("p.jsonl", '{"prompt": "a"}\n{"prompt": "b",}\n', "p.jsonl line 2: invalid JSON"),
    ("p.jsonl", '["a walk"]\n', "p.jsonl line 1: expected a JSON object"),
    ("p.jsonl", '{"prompt": "a", "secs": 3}\n', "p.jsonl line 1: unknown field 'secs'"),
    ("p.csv", "text,seconds\na walk,3\n", "p.csv line 1: the header has no `prompt` column"),
    ("p.csv", "prompt,seconds\na walk,3\nb,4,9\n", "p.csv line 3: more cells"),
    ("p.txt", "# only a comment\n\n", "p.txt: no prompts"),
    ("p.yaml", "- a walk\n", "unknown prompts file type"),
])
def test_unreadable_files_name_file_and_line(tmp_path, name, text, fragment):
    with pytest.raises(PromptFileError, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        read_prompts(write(tmp_path / name, text))


def test_safe_names():
    assert safe_name("A person walks, then TURNS left!") == "a_person_walks_then_turns_left"
    assert safe_name("../../etc/passwd") == "etc_passwd"
    assert safe_name("日本語") == "motion"
    assert len(safe_name("walk " * 40)) <= 60 and not safe_name("walk " * 40).endswith("_")


def test_failed_items_are_recorded_and_resume_skips_finished_ones(tmp_path, monkeypatch, capsys):
    calls = []
    original = MotionGenerator.generate

    def counting(self, requests, *args, **kwargs):
        calls.append([r.prompt for r in requests])
        if any("explode" in r.prompt for r in requests):
            raise RuntimeError("the model exploded")
        return original(self, requests, *args, **kwargs)
    monkeypatch.setattr(MotionGenerator, "generate", counting)
    prompts = write(tmp_path / "p.jsonl", '{"prompt": "a person walks", "name": "walk"}\n'
                                          '{"prompt": "a person waves", "seconds": 3, "seed": 9}\n'
                                          '{"prompt": "explode now"}\n{"prompt": ""}\n'
                                          '{"prompt": "a person sits"}\n')
    out = tmp_path / "out"
    assert main(["batch", str(prompts), "--out", str(out), "--format", "npz", *FAST]) == 1
    assert "3 of 5 items ok" in capsys.readouterr().out
    assert calls[0] == ["a person walks", "explode now", "a person sits"]  # the two 4 s items and the bad one
    assert ["explode now"] in calls and ["a person walks"] in calls  # its batch retried item by item
    items = manifest(out)
    assert [i["status"] for i in items] == ["ok", "ok", "failed", "failed", "ok"]
    walk = items[0]
    assert walk == {"line": 1, "prompt": "a person walks", "seed": 0, "seconds": 4.0, "file": "walk.npz",
                    "model": "moscale-default", "status": "ok", "error": None}
    assert items[1]["seed"] == 9 and items[1]["seconds"] == 3.0
    assert items[2]["error"] == "the model exploded" and items[3]["error"] == "empty prompt"
    motion = load_motion(out / "a_person_waves.npz")
    assert motion.frame_count == 60 and motion.metadata["prompt"] == "a person waves"
    assert motion.metadata["seed"] == 9
    assert sorted(p.name for p in out.iterdir()) == ["a_person_sits.npz", "a_person_waves.npz", "manifest.json",
                                                     "walk.npz"]

    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npz")}
    (out / "a_person_sits.npz").unlink()  # a missing file is generated again
    calls.clear()
    assert main(["batch", str(prompts), "--out", str(out), "--format", "npz", *FAST]) == 1
    assert calls == [["explode now", "a person sits"], ["explode now"], ["a person sits"]]
    assert (out / "walk.npz").stat().st_mtime_ns == mtimes["walk.npz"]
    assert [i["status"] for i in manifest(out)] == ["ok", "ok", "failed", "failed", "ok"]


def test_a_foreign_manifest_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    write(out / "manifest.json", '{"something": "else"}')
    assert main(["batch", str(write(tmp_path / "p.txt", "a walk\n")), "--out", str(out), *FAST]) == 2
    assert "not a `moscale batch` manifest" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == '{"something": "else"}'
