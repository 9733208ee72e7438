"""Regenerate-range and extend planning without bpy: range precedence, context window, the
backend's span, which keys are replaced, and the new keys' continuity at the seams."""

import numpy as np
import pytest
from addon_rigs import rigify_metarig, walk_motion

from addon import bone_maps, editing
from addon.retarget import bind, retarget

FIELDS = (10, 30)


def test_the_preview_range_comes_first_then_selected_keys_then_the_fields():
    assert editing.choose_range((61, 80), (5, 9), FIELDS) == editing.FrameRange(61, 80, "preview range")
    assert editing.choose_range(None, (5, 9), FIELDS) == editing.FrameRange(5, 9, "selected keys")
    assert editing.choose_range(None, None, FIELDS) == editing.FrameRange(10, 30, "start/end fields")


def test_selected_keys_count_only_when_they_are_a_choice():
    all_frames = [1, 13, 25, 37, 1, 13, 25, 37]
    assert editing.selected_span([25.0, 13.0, 25.0], all_frames) == (13, 25)
    assert editing.selected_span([13.0, 13.0], all_frames) is None  # one frame is no range
    assert editing.selected_span(all_frames, all_frames) is None  # a fresh action has every key selected
    assert editing.selected_span([], all_frames) is None


def test_the_context_window_takes_the_action_around_the_range():
    at_24 = editing.FrameRange(61, 80, "preview range")
    assert editing.context_window(at_24, (1, 144), 24.0) == (1, 144)  # within 4 s on both sides
    assert editing.context_window(at_24, (1, 1000), 24.0) == (1, 80 + 96)  # 4 s after the range
    assert editing.context_window(at_24, (-500, 1000), 24.0) == (61 - 96, 80 + 96)
    short = editing.context_window(editing.FrameRange(5, 10, "start/end fields"), (1, 12), 24.0)
    assert short[1] - short[0] + 1 == 49 and short[0] <= 1 and short[1] >= 12  # 2 s at 20 fps, widened evenly


def test_extend_reads_up_to_8_s_before_the_join_and_at_least_2_s():
    assert editing.extend_window(144, 1, 24.0) == 1
    assert editing.extend_window(400, 1, 24.0) == 400 - 192
    assert editing.extend_window(30, 1, 24.0) == 30 - 48  # 49 frames: 2 s at 24 fps, then 40 at 20 fps


def test_the_seam_blend_in_motion_frames():
    assert editing.motion_blend(8, 24.0) == 7 and editing.motion_blend(1, 60.0) == 1
    assert editing.motion_blend(64, 12.0) == 64


def test_the_edit_span_covers_every_frame_the_range_samples():
    start, end = editing.edit_span(editing.FrameRange(61, 80, "x"), 1, 120, 24.0)
    assert (start, end) == (50, 67)  # scene 61 -> 50.0, scene 80 -> 65.83: frames 50..66
    assert editing.edit_span(editing.FrameRange(130, 144, "x"), 1, 120, 24.0)[1] == 120  # a suffix
    with pytest.raises(ValueError, match="whole animation"):
        editing.edit_span(editing.FrameRange(1, 144, "x"), 1, 120, 24.0)


def test_keys_in_the_span_are_replaced_and_no_others():
    frames = np.array([1.0, 60.0, 60.5, 61.0, 70.0, 80.0, 80.25, 81.0])
    assert editing.keys_in_span(frames, 61, 80).tolist() == [False, False, False, True, True, True, False, False]
    after_join = editing.keys_in_span(frames, np.nextafter(60.0, np.inf), np.inf)
    assert after_join.tolist() == [False, False, True, True, True, True, True, True]


def test_extend_asks_for_whole_backend_lengths():
    assert editing.extend_frames(41) == 44 and editing.extend_frames(3) == 40 and editing.extend_frames(48) == 48


@pytest.fixture(scope="module")
def metarig_keys():
    rig, motion = rigify_metarig(), walk_motion()
    binding = bind(rig, bone_maps.build_mapping(rig.bone_names), motion.joint_names, motion.parents,
                   motion.rest_offsets)
    return retarget(binding, motion.rotations, motion.root_translation)


def test_new_keys_are_the_motion_where_nothing_differs(metarig_keys):
    keys, frames = metarig_keys, np.arange(61, 81)
    columns = editing.channels(keys)
    assert len(columns) == 4 * len(keys.bone_names) + 3
    sampled = editing.key_values(keys, editing.motion_position(np.arange(60, 82), 1, 24.0))
    values = editing.plan_keys(keys, frames, 1, 24.0, before=sampled[0], after=sampled[-1], blend=8)
    np.testing.assert_allclose(values, sampled[1:-1], atol=1e-9)


def test_new_keys_continue_the_old_ones_at_both_seams(metarig_keys):
    keys, frames = metarig_keys, np.arange(61, 81)
    sampled = editing.key_values(keys, editing.motion_position(np.arange(60, 82), 1, 24.0))
    rotations = 4 * len(keys.bone_names)
    before, after = sampled[0].copy(), sampled[-1].copy()
    before[-3:] += (0.1, 0.0, 0.0)  # the old root sits 10 cm aside at the first seam
    after[:rotations] *= -1.0  # and the old keys use the other quaternion sign: the same rotations
    values = editing.plan_keys(keys, frames, 1, 24.0, before=before, after=after, blend=8)
    assert np.abs(values[0, -3:] - sampled[1, -3:] - (0.1, 0.0, 0.0)).max() < 0.01  # offset held at the seam...
    np.testing.assert_allclose(values[10:, -3:], sampled[11:-1, -3:], atol=1e-9)  # ...gone after 8 frames
    np.testing.assert_allclose(values[:, :rotations], sampled[1:-1, :rotations], atol=1e-9)
    norms = np.linalg.norm(values[:, :rotations].reshape(len(frames), -1, 4), axis=-1)
    np.testing.assert_allclose(norms, 1.0)
