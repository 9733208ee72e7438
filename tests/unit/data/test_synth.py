"""The procedural corpus: determinism, HumanML3D layout, physical plausibility, captions."""

import re
from pathlib import Path

import numpy as np
import pytest

from moscale.data.synth import ACTIONS, foot_skate_ratio, ground_penetration, make_clip, synthesize_corpus
from moscale.data.synth.actions_jump import GRAVITY
from moscale.data.synth.captions import sequence_caption
from moscale.data.synth.compose import MAX_FRAMES, MIN_FRAMES, append, positions_of
from moscale.data.synth.physics import foot_skate_steps
from moscale.motion.features import canonicalize
from moscale.motion.skeleton import FPS, JOINT_NAMES, PARENTS

CLIPS = 24
POS_TAGS = {"NOUN", "VERB", "ADV", "ADJ", "ADP", "NUM", "DET", "PRON", "CCONJ", "OTHER"}
# Words of which every caption of an action names at least one.
ACTION_WORDS = {
    "walk": ("walk", "step"), "jog": ("jog",), "run": ("run", "dash", "sprint"),
    "walk_backwards": ("backward", "back"), "sidestep": ("side",), "sneak": ("tiptoe", "sneak", "toes", "creep"),
    "march": ("march", "knees high"), "turn": ("turn", "rotate", "pivot"), "turn_around": ("around", "180", "opposite"),
    "spin": ("spin", "full circle"), "circle": ("circle",), "zigzag": ("zigzag", "zig zag"),
    "diagonal": ("diagonal", "angle", "forward and to the"), "jump": ("jump", "hop"),
    "jump_forward": ("jump", "leap", "bound"), "hop": ("hop", "jump"),
    "jumping_jacks": ("jumping jack", "star jump", "spreading arms and legs"), "wave": ("wave",),
    "clap": ("clap", "applause", "applaud"), "punch": ("punch", "jab", "strike"),
    "raise_arms": ("raise", "lift", "put", "hold"), "point": ("point",), "throw": ("throw", "toss", "pitch"),
    "reach": ("reach",), "stretch": ("stretch",), "shrug": ("shrug",), "salute": ("salute",), "kick": ("kick",),
    "squat": ("squat",), "lunge": ("lunge",), "kneel": ("kneel", "knee"), "bow": ("bow",), "crouch": ("crouch",),
    "sit_stand": ("sit", "seat"), "side_bend": ("bend", "lean", "stretch"), "look_around": ("look", "glance"),
    "idle": ("stand", "wait", "remain"),
}
# Actions whose every caption must say which side (or which way round).
SIDED = {"wave", "punch", "kick", "hop", "sidestep", "lunge", "kneel", "point", "throw", "reach", "salute",
         "raise_arms", "turn", "side_bend"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    synthesize_corpus(root, clips=CLIPS, seed=5, workers=1)
    return root


def _segment(name: str, seed: int, **wanted):
    """The first segment of action `name` from seeds seed, seed+1, ... whose slots match `wanted`."""
    for attempt in range(seed, seed + 200):
        segment = ACTIONS[name].make(np.random.default_rng(attempt))
        if all(segment.slots.get(key) == value for key, value in wanted.items()):
            return segment
    raise AssertionError(f"no {name} with {wanted}")


def _path_length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=-1).sum())


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_there_are_at_least_thirty_actions_in_every_family():
    assert len(ACTIONS) >= 30
    assert {a.family for a in ACTIONS.values()} == {"locomotion", "path", "jump", "upper", "whole"}
    assert set(ACTION_WORDS) == set(ACTIONS)


def test_same_seed_gives_the_same_bytes_whatever_the_worker_count(corpus, tmp_path):
    synthesize_corpus(tmp_path / "two", clips=CLIPS, seed=5, workers=2)
    synthesize_corpus(tmp_path / "other", clips=CLIPS, seed=6, workers=1)
    reference = _files(corpus)
    assert _files(tmp_path / "two") == reference
    other = _files(tmp_path / "other")
    assert other.keys() == reference.keys()
    assert other["new_joint_vecs/000000.npy"] != reference["new_joint_vecs/000000.npy"]


def test_layout_is_humanml3d(corpus):
    splits = {name: (corpus / f"{name}.txt").read_text().split() for name in ("train", "val", "test")}
    ids = [f"{i:06d}" for i in range(CLIPS)]
    assert sorted(sum(splits.values(), [])) == ids  # disjoint and covering
    assert [len(splits[s]) for s in ("train", "val", "test")] == [20, 1, 3]
    for name in ids:
        features = np.load(corpus / "new_joint_vecs" / f"{name}.npy")
        joints = np.load(corpus / "new_joints" / f"{name}.npy")
        assert features.dtype == np.float32 and joints.dtype == np.float32
        assert MIN_FRAMES <= len(joints) <= MAX_FRAMES
        assert features.shape == (len(joints) - 1, 263) and joints.shape[1:] == (22, 3)
        lines = (corpus / "texts" / f"{name}.txt").read_text(encoding="utf-8").splitlines()
        assert len(lines) >= 3 and len(set(lines)) == len(lines)
        for line in lines:
            caption, tokens, start, end = line.split("#")
            assert caption and caption == caption.strip() and float(start) == 0.0 and float(end) == 0.0
            words = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", caption.lower())
            pairs = [token.split("/") for token in tokens.split(" ")]
            assert len(pairs) == len(words) and all(tag in POS_TAGS for _, tag in pairs)
            assert any(tag == "VERB" for _, tag in pairs)


def test_statistics_are_humanml3d_mean_variance_of_the_train_split(corpus):
    train = (corpus / "train.txt").read_text().split()
    data = np.concatenate([np.load(corpus / "new_joint_vecs" / f"{name}.npy") for name in train]).astype(np.float64)
    mean, std = data.mean(axis=0), data.std(axis=0)
    for start, end in ((0, 1), (1, 3), (3, 4), (4, 67), (67, 193), (193, 259), (259, 263)):
        std[start:end] = std[start:end].mean() / 1.0
    np.testing.assert_allclose(np.load(corpus / "Mean.npy"), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.load(corpus / "Std.npy"), std, rtol=1e-5)
    assert np.all(np.load(corpus / "Std.npy") > 0)


def test_the_humanml3d_reader_loads_every_split(corpus):
    humanml3d = pytest.importorskip("moscale.data.humanml3d")
    for split, count in (("train", 20), ("val", 1), ("test", 3)):
        assert len(humanml3d.load_split(corpus, split)) == count


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_every_action_is_physically_plausible(name):
    skating = steps = 0
    for seed in range(3):
        positions = positions_of(ACTIONS[name].make(np.random.default_rng(seed)).track)
        bones = np.linalg.norm(positions[:, 1:] - positions[:, list(PARENTS[1:])], axis=-1)
        assert np.abs(bones - bones[0]).max() < 1e-5
        assert ground_penetration(positions) >= -0.02
        assert positions[..., 1].min() < 0.01  # and standing on the floor, not floating
        skating += foot_skate_steps(positions, FPS).sum()
        steps += len(positions) - 1
    assert skating / steps <= 0.05


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_captions_name_the_action_and_its_side(name):
    for seed in range(4):
        segment = ACTIONS[name].make(np.random.default_rng(seed))
        side = segment.slots.get("side")
        for repeat in range(5):
            caption, _ = sequence_caption([segment], np.random.default_rng([seed, repeat]))
            assert any(word in caption for word in ACTION_WORDS[name]), caption
            if side in ("left", "right") and "other" not in segment.slots:
                opposite = "right" if side == "left" else "left"
                assert not re.search(rf"\b{opposite}\b", caption), caption
                clock = "counterclockwise" if side == "left" else "clockwise"
                if name in SIDED:
                    assert re.search(rf"\b({side}|{clock})\b", caption), caption


def test_counts_in_captions_match_the_motion():
    segment = _segment("jump", 0, reps=3)
    captions = [sequence_caption([segment], np.random.default_rng(i))[0] for i in range(12)]
    assert all(re.search(r"\b(3|three) times\b", c) for c in captions), captions
    positions = positions_of(segment.track)
    airborne = (positions[:, [10, 11], 1] > 0.05).all(axis=1)
    assert np.sum(np.diff(airborne.astype(int)) == 1) == 3


def test_right_hand_wave_moves_the_right_wrist():
    positions = positions_of(_segment("wave", 0, side="right").track)
    left, right = JOINT_NAMES.index("left_wrist"), JOINT_NAMES.index("right_wrist")
    assert right == 21 and _path_length(positions[:, right]) > 5 * _path_length(positions[:, left])


def test_left_kick_lifts_the_left_foot():
    positions = positions_of(_segment("kick", 0, side="left").track)
    assert positions[:, 10, 1].max() > 0.4 and positions[:, 11, 1].max() < 0.02


def test_sidestep_left_moves_towards_the_characters_left():
    positions = positions_of(_segment("sidestep", 0, side="left").track)
    assert positions[-1, 0, 0] - positions[0, 0, 0] > 1.0  # +X is the left of a character facing +Z
    canonical = canonicalize(positions, retarget=False)
    assert canonical[-1, 0, 0] - canonical[0, 0, 0] > 1.0


def test_turning_left_is_counter_clockwise_from_above():
    positions = positions_of(_segment("turn", 0, side="left", angle="90").track)
    across = positions[-1, JOINT_NAMES.index("left_hip")] - positions[-1, JOINT_NAMES.index("right_hip")]
    forward = np.cross(across, [0.0, 1.0, 0.0])
    forward /= np.linalg.norm(forward)
    np.testing.assert_allclose(forward, [1.0, 0.0, 0.0], atol=0.1)  # was +Z, now faces +X


def test_walking_forward_moves_along_the_facing_after_canonicalisation():
    canonical = canonicalize(positions_of(_segment("walk", 0).track), retarget=False)
    travel = canonical[-1, 0] - canonical[0, 0]
    assert travel[2] > 2.0 and abs(travel[0]) < 0.05 * travel[2]
    seconds = (len(canonical) - 1) / FPS
    assert 0.6 < travel[2] / seconds < 1.8  # average walking speed including starting and stopping


def test_jumps_leave_the_ground_on_a_parabola():
    segment = _segment("jump", 0)
    positions = positions_of(segment.track)
    airborne = ~segment.track.contact.any(axis=1)
    start = int(np.argmax(airborne))
    end = start + int(np.argmin(airborne[start:]))
    assert end - start >= 6
    time = np.arange(start, end) / FPS
    curvature = np.polyfit(time, positions[start:end, 0, 1], 2)[0]
    assert curvature == pytest.approx(-GRAVITY / 2, rel=0.01)
    assert positions[start:end, [10, 11], 1].min(axis=1).max() > 0.1


def test_sequences_join_without_velocity_jumps():
    first, second = _segment("run", 0).track, _segment("jump_forward", 0).track

    def peak_acceleration(positions):
        velocity = np.diff(positions[:, 0], axis=0) * FPS
        return np.linalg.norm(np.diff(velocity, axis=0) * FPS, axis=-1).max()

    joined = peak_acceleration(positions_of(append(first, second)))
    assert joined <= 1.05 * max(peak_acceleration(positions_of(first)), peak_acceleration(positions_of(second)))


def test_clips_are_two_to_ten_seconds_and_feet_stay_planted():
    positions = [make_clip(np.random.default_rng([9, i])).positions for i in range(30)]
    assert all(MIN_FRAMES <= len(p) <= MAX_FRAMES for p in positions)
    assert np.mean([foot_skate_ratio(p) for p in positions]) <= 0.05


def test_layered_and_sequence_captions_say_how_actions_combine():
    kinds = {}
    for index in range(60):
        clip = make_clip(np.random.default_rng([2, index]))
        kinds.setdefault(clip.kind, clip)
    assert {"single", "sequence2", "layered"} <= set(kinds)
    assert all(" while " in c or "at the same time" in c for c, _ in kinds["layered"].captions)
    assert all(re.search(r"\bthen\b|afterwards|finally|at last", c) for c, _ in kinds["sequence2"].captions)
