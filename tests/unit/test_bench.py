"""The benchmark on the tiny model: every field is filled and the report names every stage (no timing asserts)."""

import pytest

from moscale.bench import BenchReport, format_report, run_bench
from moscale.model.config import tiny_configs
from moscale.text.encoders import TextEncoderSpec, load_text_encoder


@pytest.fixture(scope="module")
def reports():
    return {precision: run_bench("tiny", schedule=(1, 2, 2, 3), batch_sizes=(1, 2), precision=precision, repeats=1)
            for precision in ("fp32", "int8")}


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_report_fields(reports, precision):
    report = reports[precision]
    assert isinstance(report, BenchReport)
    assert report.precision == precision and report.schedule == [1, 2, 2, 3]
    assert [t.batch_size for t in report.batches] == [1, 2]
    assert report.stage_names == ["text context", "scale 0 (1 pass)", "scale 1 (2 passes)", "scale 2 (2 passes)",
                                  "scale 3 (3 passes)", "decode"]
    for timing in report.batches:
        assert list(timing.stages) == report.stage_names
        assert all(seconds >= 0 for seconds in timing.stages.values())
        assert timing.motions_per_second > 0
        assert report.efficiency(timing) > 0
    assert report.flops["generation"] > 0 and report.flops["decode"] > 0
    assert report.matmul_flops_per_second > 0
    assert report.ik_seconds > 0
    assert (report.agreement is not None) == (precision == "int8")


def test_flops_do_not_depend_on_precision(reports):
    assert reports["fp32"].flops == reports["int8"].flops


def test_fewer_passes_count_fewer_flops():
    fast = run_bench("tiny", schedule=(1, 1, 1, 1), batch_sizes=(1,), repeats=1)
    default = run_bench("tiny", schedule=(1, 2, 5, 10), batch_sizes=(1,), repeats=1)
    assert 0 < fast.flops["generation"] < default.flops["generation"]
    assert fast.flops["decode"] == default.flops["decode"]


def test_format_report_names_every_stage(reports):
    text = format_report(reports["int8"])
    for stage in reports["int8"].stage_names:
        assert stage in text
    for label in ("total", "motions/s", "FLOPs per motion", "matmul", "efficiency", "IK", "int8 vs fp32"):
        assert label in text


def test_models_can_be_given_as_configs():
    report = run_bench(tiny_configs(), schedule=(1, 1, 1, 1), batch_sizes=(1,), repeats=1)
    assert report.model == "custom config" and report.flops["generation"] > 0


def test_text_encoder_stage_is_timed_and_counted():
    encoder = load_text_encoder(TextEncoderSpec())
    report = run_bench("tiny", schedule=(1, 1, 1, 1), batch_sizes=(1, 2), repeats=1, text_encoder=encoder)
    assert report.stage_names[0] == "text encoder"
    assert report.flops["text encoder"] > 0
    assert "text encoder" in format_report(report)


def test_unknown_preset_and_bad_precision_are_rejected():
    with pytest.raises(ValueError, match="preset"):
        run_bench("huge")
    with pytest.raises(ValueError, match="precision"):
        run_bench("tiny", precision="fp16")
