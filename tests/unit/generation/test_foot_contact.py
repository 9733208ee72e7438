"""Foot contact cleanup: planted feet stop sliding, legs keep their lengths, the rest of the body stays."""

import numpy as np
import pytest

from moscale.data.synth import foot_skate_ratio, make_clip
from moscale.data.synth.physics import _LEGS, _FOOT_OFFSETS, _ankle_at, foot_angles_from_positions
from moscale.generation.foot_contact import MAX_DRIFT, SWING_HEIGHT, clean_feet, lift_swings, stance
from moscale.motion.features import FOOT_CONTACT, extract_features
from moscale.motion.skeleton import FPS

LEG_JOINTS = sorted({joint for leg in _LEGS for joint in leg[1:]})


def features_of(positions):
    features = extract_features(positions, retarget=False)
    return np.concatenate([features, features[-1:]])


def sliding(positions, speed=0.3):
    """The motion with the whole body drifting sideways: every planted foot now slides."""
    drifted = positions.copy()
    drifted[..., 0] += speed * np.arange(len(positions))[:, None] / FPS
    return drifted


@pytest.fixture(scope="module")
def clips():
    return [make_clip(np.random.default_rng([4, i])).positions for i in range(6)]


def test_foot_angles_from_positions_invert_the_foot_placement():
    rng = np.random.default_rng(0)
    heading, pitch = rng.uniform(-3, 3, (50, 2)), rng.uniform(-0.8, 1.0, (50, 2))
    positions = np.zeros((50, 22, 3))
    for side, (_, _, ankle, toe) in enumerate(_LEGS):
        positions[:, toe] = rng.normal(size=(50, 3))
        positions[:, ankle] = _ankle_at(positions[:, toe], heading[:, side], pitch[:, side], _FOOT_OFFSETS[side])
    found_heading, found_pitch = foot_angles_from_positions(positions)
    np.testing.assert_allclose(np.angle(np.exp(1j * (found_heading - heading))), 0, atol=1e-9)
    np.testing.assert_allclose(found_pitch, pitch, atol=1e-9)


def test_sliding_feet_are_planted_again(clips):
    before, after = [], []
    for positions in clips:
        slid = sliding(positions)
        cleaned = clean_feet(slid, features_of(slid))
        before.append(foot_skate_ratio(slid))
        after.append(foot_skate_ratio(cleaned))
        assert cleaned.shape == slid.shape and np.isfinite(cleaned).all()
    assert np.mean(before) > 0.2
    assert np.mean(after) < 0.01


def test_legs_keep_their_lengths_and_the_upper_body_only_lowers(clips):
    slid = sliding(clips[0])
    cleaned = clean_feet(slid, features_of(slid))
    for hip, knee, ankle, _ in _LEGS:
        for parent, child in ((hip, knee), (knee, ankle)):
            lengths = np.linalg.norm(cleaned[:, child] - cleaned[:, parent], axis=-1)
            assert np.ptp(lengths) < 1e-6
    body = [j for j in range(22) if j not in LEG_JOINTS]
    np.testing.assert_allclose(cleaned[:, body][..., [0, 2]], slid[:, body][..., [0, 2]], atol=1e-9)
    drop = slid[:, body, 1] - cleaned[:, body, 1]
    assert drop.min() > -1e-9 and drop.max() < 0.1


def test_without_predicted_contact_nothing_changes(clips):
    slid = sliding(clips[0])
    features = features_of(slid)
    features[:, FOOT_CONTACT] = 0.0
    np.testing.assert_array_equal(clean_feet(slid, features), slid)


def test_stance_needs_the_prediction_a_low_toe_and_a_slow_one():
    frames = 40
    positions = np.zeros((frames, 22, 3))
    features = np.zeros((frames, 263))
    features[:, FOOT_CONTACT] = 1.0
    positions[20:, 10, 1] = 0.5       # left toe lifted from frame 20
    positions[:, 11, 2] = np.where(np.arange(frames) < 30, 0.0, np.arange(frames) * 0.2)  # right toe runs off
    features[5, FOOT_CONTACT.start + 1] = 0.0  # a one-frame gap in the prediction is noise
    planted = stance(positions, features)
    assert planted[:20, 0].all() and not planted[20:, 0].any()
    assert planted[:28, 1].all() and not planted[31:, 1].any()


def test_a_foot_that_drifts_far_steps_instead_of_stretching():
    frames = 60
    positions = np.zeros((frames, 22, 3))
    positions[:, 10, 0] = np.linspace(0.0, 0.4, frames)  # slides 40 cm while "planted" at 0.13 m/s
    features = np.zeros((frames, 263))
    features[:, FOOT_CONTACT] = 1.0
    planted = stance(positions, features)[:, 0]
    assert not planted.all()
    for start, end in zip(*[np.flatnonzero(np.diff(np.r_[0, planted.astype(int), 0]) == d) for d in (1, -1)]):
        assert np.ptp(positions[start:end, 10, 0]) <= MAX_DRIFT + 0.4 / frames


def test_a_shuffle_between_plants_is_lifted_to_step_height():
    heights = np.zeros(30)
    planted = np.zeros(30, dtype=bool)
    planted[:10] = planted[20:] = True
    lifted = lift_swings(heights, planted)
    np.testing.assert_allclose(lifted[planted], heights[planted], atol=1e-12)
    assert lifted[14:16].max() == pytest.approx(SWING_HEIGHT, abs=0.01)
    high = np.where(planted, 0.0, 0.3)
    np.testing.assert_array_equal(lift_swings(high, planted), high)  # a real step is left alone
