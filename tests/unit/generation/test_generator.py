"""Generation, continuation and editing through MotionGenerator with a real text encoder and a tiny model."""

import re

import numpy as np
import pytest

from moscale.generation.generator import MotionGenerator, MotionRequest, plan_frames
from moscale.generation.scales import GenerationCancelled, SamplingOptions
from moscale.motion.features import extract_features
from moscale.text.encoders import TextEncoderSpec, load_text_encoder
from synthetic_motion import make_walk
from tiny_humanml3d import tiny_random_model

FAST = SamplingOptions(schedule=[1, 1, 2, 2])


@pytest.fixture(scope="module")
def generator():
    """A tiny random model whose normalisation is centred on a walk, so its output moves like one."""
    features = extract_features(make_walk(frames=200).positions, retarget=False).astype(np.float32)
    model = tiny_random_model(features.mean(0), features.std(0) * 0.2 + 1e-3, name="tiny-test")
    return MotionGenerator(model, load_text_encoder(TextEncoderSpec(), expected_dim=384))


def mean_step(positions):
    return np.linalg.norm(np.diff(positions, axis=0), axis=-1).mean()


def seam_jump(positions, frame):
    return np.linalg.norm(positions[frame] - positions[frame - 1], axis=-1).mean()


def test_lengths_are_validated_and_rounded():
    assert plan_frames(120) == (120, [])
    frames, notes = plan_frames(122)
    assert frames % 4 == 0 and "rounded" in notes[0]
    for bad in (10, -4, float("nan"), "long", 10**7):
        with pytest.raises(ValueError):
            plan_frames(bad)


def test_generation_is_seeded_and_batch_invariant(generator):
    alone = generator.generate([MotionRequest("a person jumps twice", 80, seed=3)], FAST)[0]
    batch = generator.generate([MotionRequest("a person waves", 120, seed=1),
                                MotionRequest("a person jumps twice", 80, seed=3)], FAST)
    assert alone.positions.shape == (80, 22, 3) and np.isfinite(alone.positions).all()
    np.testing.assert_allclose(alone.positions, batch[1].positions, atol=1e-5)
    other = generator.generate([MotionRequest("a person jumps twice", 80, seed=4)], FAST)[0]
    assert np.abs(other.positions - alone.positions).max() > 1e-3


def test_a_minute_long_motion_by_continuation(generator):
    result = generator.generate([MotionRequest("a person walks in a circle", 1200, seed=0)], FAST)[0]
    assert result.positions.shape == (1200, 22, 3) and result.features.shape == (1200, 263)
    assert np.isfinite(result.positions).all()
    steps = np.linalg.norm(np.diff(result.positions[:, 0], axis=0), axis=-1)
    assert steps.max() < 10 * np.median(steps) + 0.05  # no teleport at the pass boundaries
    assert any("continued" in note for note in result.notes)


@pytest.mark.parametrize("start,end", [(60, 80), (0, 40), (150, 200)])
def test_edit_keeps_the_context_and_joins_it(generator, start, end):
    context = make_walk(frames=200, turns=0.5, seed=2).positions
    edited = generator.edit(context, start, end, "a person kicks", seed=5, options=FAST).positions
    assert edited.shape == context.shape
    assert np.array_equal(edited[:start], context[:start]) and np.array_equal(edited[end:], context[end:])
    assert np.abs(edited[start:end] - context[start:end]).max() > 1e-4  # something was regenerated
    bound = 2 * mean_step(edited)
    for seam in (start, end):
        if 0 < seam < len(context):
            assert seam_jump(edited, seam) <= bound, (seam, seam_jump(edited, seam), bound)
            root_step = np.linalg.norm(edited[seam, 0] - edited[seam - 1, 0])
            assert root_step <= 2 * np.linalg.norm(np.diff(edited[:, 0], axis=0), axis=-1).mean() + 1e-3


def test_extend_continues_from_the_last_frame(generator):
    context = make_walk(frames=100, seed=3).positions
    result = generator.extend(context, 60, "a person keeps walking", seed=1, options=FAST)
    assert result.positions.shape == (160, 22, 3)
    assert np.array_equal(result.positions[:100], context)
    assert seam_jump(result.positions, 100) <= 2 * mean_step(result.positions)


def test_bad_edits_are_clear_errors(generator):
    context = make_walk(frames=100).positions
    with pytest.raises(ValueError, match="outside"):
        generator.edit(context, 90, 120, "jump")
    with pytest.raises(ValueError, match="NaN"):
        broken = context.copy()
        broken[5, 3, 1] = np.nan
        generator.edit(broken, 10, 30, "jump")
    with pytest.raises(ValueError, match="positions"):
        generator.edit(np.zeros((100, 10, 3)), 10, 30, "jump")
    with pytest.raises(ValueError, match="prompt"):
        generator.edit(context, 10, 30, "   ")


def test_progress_and_cooperative_cancel(generator):
    events = []
    generator.generate([MotionRequest("a person bows", 40)], FAST, progress=events.append)
    assert len(events) == sum(FAST.schedule) and events[-1].fraction == 1.0
    assert all(a.fraction < b.fraction for a, b in zip(events, events[1:]))
    calls = []

    def cancel_after_three():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(GenerationCancelled):
        generator.generate([MotionRequest("a person bows", 40)], FAST, cancel=cancel_after_three)


def test_edit_accepts_a_context_given_as_features(generator):
    from moscale.motion.features import recover_from_ric

    features = extract_features(make_walk(frames=121, seed=4).positions, retarget=False).astype(np.float32)
    context = recover_from_ric(features)
    edited = generator.edit(features, 40, 64, "a person crouches", seed=2, options=FAST).positions
    np.testing.assert_allclose(edited[:40], context[:40], atol=1e-6)
    np.testing.assert_allclose(edited[64:], context[64:], atol=1e-6)
    assert seam_jump(edited, 40) <= 2 * mean_step(edited) and seam_jump(edited, 64) <= 2 * mean_step(edited)


def test_compose_joins_prompts_into_one_continuous_motion(generator):
    segments = [("a person walks forward", 50), ("a person jumps", 45), ("a person waves", 60)]
    result = generator.compose(segments, seed=2, options=FAST)
    assert result.positions.shape == (155, 22, 3) and result.features.shape == (155, 263)
    assert result.prompt == "a person walks forward | a person jumps | a person waves"
    typical = mean_step(result.positions)
    for seam in (50, 95):
        assert seam_jump(result.positions, seam) < 4 * typical + 0.01


def test_bad_segments_name_the_segment(generator):
    for segments, words in (([], "at least one"), ([("walk", 60), ("", 60)], "segment 2"),
                            ([("walk", 60), ("jump", 10)], "segment 2 ('jump')"),
                            ([("walk", 60)] * 300, "add up")):
        with pytest.raises(ValueError, match=re.escape(words)):
            generator.compose(segments, options=FAST)
