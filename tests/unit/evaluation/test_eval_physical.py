"""Physical metrics on motions built to have a known amount of skating, penetration, hovering and shake."""

import numpy as np
import pytest
import torch

from moscale.checkpoint import load_checkpoint
from moscale.data.humanml3d import load_split
from moscale.evaluation.physical import (
    floating_ratio, foot_skate_ratio, ground_penetration, jitter, physical_metrics, tokenizer_mpjpe,
)
from moscale.motion.skeleton import Skeleton

LEFT_FOOT_JOINTS, RIGHT_FOOT_JOINTS = (7, 10), (8, 11)


def standing(frames=40, height=0.0):
    """The default skeleton's rest pose, lowest joint at y = height, for `frames` frames."""
    rest = Skeleton.default().forward_kinematics(np.tile([1.0, 0, 0, 0], (1, 22, 1)), np.zeros((1, 3)))[0]
    rest[:, 1] += height - rest[:, 1].min()
    return np.repeat(rest[None], frames, axis=0)


def test_a_static_standing_pose_has_no_artefacts():
    pose = standing()
    assert foot_skate_ratio(pose) == 0.0
    assert ground_penetration(pose) == (0.0, 0.0)
    assert floating_ratio(pose) == 0.0
    assert jitter(pose) == 0.0


def test_feet_sliding_on_the_ground_skate():
    pose = standing()
    pose[:, :, 1] -= pose[:, list(LEFT_FOOT_JOINTS + RIGHT_FOOT_JOINTS), 1].max()  # every foot joint at y <= 0
    slide = np.arange(len(pose)) * 0.5 / 20  # 0.5 m/s along x
    left_only = pose.copy()
    left_only[:, list(LEFT_FOOT_JOINTS), 0] += slide[:, None]
    assert foot_skate_ratio(left_only) == pytest.approx(1.0)  # one sliding foot makes every step skate
    half = pose.copy()
    half[20:, list(LEFT_FOOT_JOINTS), 0] += slide[:20, None]
    assert foot_skate_ratio(half) == pytest.approx(19 / 39)
    slow = pose.copy()
    slow[:, :, 0] += slide[:, None] / 4  # 0.125 m/s: a planted foot may creep that little
    assert foot_skate_ratio(slow) == 0.0
    metrics = physical_metrics([left_only, pose, pose])  # steps are pooled over clips
    assert metrics["foot_skate_ratio"] == pytest.approx(1 / 3)


def test_a_foot_swinging_above_the_ground_does_not_skate():
    pose = standing()
    pose[:, :, 1] += 0.2
    pose[:, :, 0] += np.arange(len(pose))[:, None] * 0.1
    assert foot_skate_ratio(pose) == 0.0


def test_a_pose_ten_centimetres_under_the_ground_penetrates_by_ten_centimetres():
    mean, worst = ground_penetration(standing(height=-0.1))
    assert mean == pytest.approx(0.1) and worst == pytest.approx(0.1)
    half = np.concatenate([standing(20), standing(20, height=-0.1)])
    assert ground_penetration(half) == pytest.approx((0.05, 0.1))


def test_a_short_jump_is_not_floating_but_hovering_is():
    jump = standing(60)
    t = np.arange(12) / 20  # 0.6 s of flight
    jump[20:32, :, 1] += (4.9 * t * (0.6 - t))[:, None] + 0.06
    assert floating_ratio(jump) == 0.0
    hover = standing(60)
    hover[10:40, :, 1] += 0.2  # 1.5 s in the air
    assert floating_ratio(hover) == pytest.approx(30 / 60)


def test_jitter_is_the_mean_jerk():
    pose = standing(30)
    t = np.arange(30) / 20
    pose[:, :, 0] += t[:, None] ** 3  # x = t³: jerk is exactly 6 m/s³
    assert jitter(pose) == pytest.approx(6.0, rel=1e-6)
    shaky = standing(30)
    shaky[::2, :, 2] += 0.01  # third difference ±0.04 m on every step
    assert jitter(shaky) == pytest.approx(0.04 * 20**3)


def test_physical_metrics_average_over_clips():
    metrics = physical_metrics([standing(), standing(height=-0.1)])
    assert metrics["penetration_mean_m"] == pytest.approx(0.05)
    assert metrics["penetration_worst_m"] == pytest.approx(0.1)
    assert metrics["foot_skate_ratio"] == 0.0


def test_tokenizer_mpjpe_is_zero_for_a_perfect_decoder_and_positive_for_a_random_one(tiny_checkpoint, corpus):
    model = load_checkpoint(tiny_checkpoint)
    clips = [clip.features for clip in load_split(corpus, "test")[:5]]
    random = tokenizer_mpjpe(model, clips)
    assert random["mpjpe_mm"] > 10 and random["global_mpjpe_mm"] >= random["mpjpe_mm"] * 0.5

    class Echo:  # decodes back exactly what it was given
        config = model.tokenizer.config

        def parameters(self):
            return iter([torch.zeros(1)])

        def tokenize(self, motion, lengths):
            return None, [motion.transpose(1, 2)]

        def decode_latent(self, latent, lengths):
            return latent.transpose(1, 2)

    model.tokenizer = Echo()
    perfect = tokenizer_mpjpe(model, clips)
    assert perfect["mpjpe_mm"] == pytest.approx(0.0, abs=1e-2)
    assert perfect["global_mpjpe_mm"] == pytest.approx(0.0, abs=1e-2)
