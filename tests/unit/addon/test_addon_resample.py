import numpy as np
import pytest

from addon import quaternion as quat
from addon import resample


@pytest.mark.parametrize("scene_fps, expected", [(24, 240), (25, 250), (30, 300), (60, 600),
                                                 (24000 / 1001, 240), (20, 200), (12, 120), (50, 500)])
def test_frame_count_keeps_the_duration(scene_fps, expected):
    assert resample.frame_count(200, 20.0, scene_fps) == expected


def test_frame_count_of_short_and_odd_clips():
    assert resample.frame_count(1, 20.0, 24.0) == 1
    assert resample.frame_count(3, 20.0, 24.0) == 4  # 0.15 s is 3.6 frames at 24 fps
    with pytest.raises(ValueError, match="positive frame rates"):
        resample.frame_count(10, 20.0, 0.0)


def random_track(frames=40, bones=5, seed=0):
    """A smooth random rotation track [frames, bones, 4] with sign flips thrown in."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=(bones, 3))
    angle = np.cumsum(rng.uniform(0.0, 0.3, size=(frames, bones)), axis=0)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    q = np.concatenate([np.cos(angle / 2)[..., None], np.sin(angle / 2)[..., None] * axis], -1)
    return q * np.where(rng.random((frames, bones, 1)) < 0.3, -1.0, 1.0)


@pytest.mark.parametrize("scene_fps, every_scene, every_source",
                         [(60, 3, 1), (24, 6, 5), (30, 3, 2), (40, 2, 1), (10, 1, 2)])
def test_slerp_hits_the_source_keys_where_times_coincide(scene_fps, every_scene, every_source):
    track = random_track()
    out = resample.resample_rotations(track, 20.0, scene_fps)
    hits = out[::every_scene]
    sources = track[::every_source][:len(hits)]
    np.testing.assert_allclose(quat.to_matrix(hits), quat.to_matrix(sources), atol=1e-12)
    assert np.all(np.sum(out[1:] * out[:-1], axis=-1) >= 0.0)  # sign-continuous for F-curves
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-12)


def test_same_rate_is_the_identity_up_to_sign():
    track = random_track()
    out = resample.resample_rotations(track, 20.0, 20.0)
    np.testing.assert_allclose(quat.to_matrix(out), quat.to_matrix(track), atol=1e-12)


def test_in_between_rotations_lie_on_the_arc():
    a = np.array([[1.0, 0, 0, 0]])
    b = np.array([[np.cos(0.5), np.sin(0.5), 0, 0]])  # one radian about X
    out = resample.resample_rotations(np.stack([a, b]), 20.0, 80.0)  # 2 frames -> 8 at quarter steps
    angles = 2 * np.arctan2(out[:, 0, 1], out[:, 0, 0])
    np.testing.assert_allclose(angles, [0, 0.25, 0.5, 0.75, 1, 1, 1, 1], atol=1e-12)  # then hold the last


def test_locations_are_linear_and_hold_at_the_end():
    locations = np.stack([np.arange(5.0), np.zeros(5), np.arange(5.0) ** 2], -1)  # [5, 3]
    out = resample.resample_locations(locations, 20.0, 40.0)
    assert out.shape == (10, 3)
    np.testing.assert_allclose(out[:, 0], [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4])
    np.testing.assert_allclose(out[1, 2], 0.5)  # halfway between 0 and 1, not on the parabola
    np.testing.assert_allclose(resample.resample_locations(locations[:, None], 20.0, 40.0)[:, 0], out)
