"""`run_evaluation` end to end: a tiny random checkpoint against a tiny corpus, JSON and Markdown out."""

import json

import pytest

from moscale.evaluation.evaluator import EvaluatorConfig, train_evaluator
from moscale.evaluation.run import GROUND_TRUTH, METRICS, run_evaluation
from moscale.generation.scales import SamplingOptions


@pytest.fixture(scope="module")
def evaluator_dir(corpus, minilm, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluator_for_run")
    train_evaluator(corpus, out, steps=20, batch_size=16, text_encoder=minilm,
                    config=EvaluatorConfig(conv_width=32, gru_width=32, embed_dim=64), log=lambda line: None)
    return out


def test_run_evaluation_writes_both_rows(tiny_checkpoint, corpus, evaluator_dir, minilm, tmp_path):
    lines = []
    report = run_evaluation(tiny_checkpoint, corpus, evaluator_dir, repeats=2, out_json=tmp_path / "eval.json",
                            out_markdown=tmp_path / "eval.md", options=SamplingOptions(schedule=[1, 1, 1, 1]),
                            mm_batches=1, mm_generations=2, text_encoder=minilm, log=lines.append)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["rows"].keys() == {GROUND_TRUTH, "tiny-random"} == report["rows"].keys()
    assert saved["clips_per_repeat"] == 32 and saved["repeats"] == 2
    truth, model = saved["rows"][GROUND_TRUTH], saved["rows"]["tiny-random"]
    assert set(model) == {key for key, _, _ in METRICS}
    assert "multimodality" not in truth and "tokenizer_mpjpe_mm" not in truth
    for row in (truth, model):
        for value in row.values():
            assert len(value["values"]) == 2 and value["interval"] >= 0
    # Real crops against another crop of the same clips sit far closer than a random model's output.
    assert truth["fid"]["mean"] < model["fid"]["mean"]
    assert model["multimodality"]["mean"] > 0
    assert any("multimodality" in line for line in lines)

    markdown = (tmp_path / "eval.md").read_text()
    assert "| Metric | ground truth | tiny-random |" in markdown
    for _, label, _ in METRICS:
        assert label in markdown
    assert "R-precision top-3 ↑ | " in markdown and " ± " in markdown


def test_run_evaluation_needs_a_full_batch(tiny_checkpoint, corpus, evaluator_dir, minilm):
    with pytest.raises(ValueError, match="at least 32"):
        run_evaluation(tiny_checkpoint, corpus, evaluator_dir, repeats=1, max_clips=10, text_encoder=minilm,
                       log=lambda line: None)
