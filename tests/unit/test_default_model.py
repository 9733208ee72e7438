"""The shipped default model: it loads with no network and makes the right kind of motion for a
prompt of every action family of its corpus.

Each check is a plain physical reading of the joint positions (model space: metres, Y up, the
figure starts facing +Z). Sampling is stochastic, so a family passes when at least two of three
seeds show the motion asked for.
"""

import numpy as np
import pytest

from moscale.checkpoint import default_checkpoint_dir, load_checkpoint
from moscale.generation.generator import MotionGenerator, MotionRequest
from moscale.motion.skeleton import JOINT_NAMES

J = {name: index for index, name in enumerate(JOINT_NAMES)}
SEEDS = (0, 1, 2)


def _facing(positions: np.ndarray) -> np.ndarray:
    """Horizontal facing direction per frame, from the hips' left-right axis."""
    across = positions[:, J["left_hip"]] - positions[:, J["right_hip"]]
    facing = np.cross(across, [0.0, 1.0, 0.0])
    facing[:, 1] = 0.0
    return facing / np.linalg.norm(facing, axis=1, keepdims=True)


def walks_forward(p):
    travel = p[-1, J["pelvis"]] - p[0, J["pelvis"]]
    travel[1] = 0.0
    distance = np.linalg.norm(travel)
    return distance > 1.0 and travel @ _facing(p)[0] > 0.7 * distance


def turns_around(p):
    """Facing at the end at least 135 degrees from the start."""
    facing = _facing(p)
    return facing[0] @ facing[-8:].mean(0) < np.cos(np.radians(135))


def jumps(p):
    feet = p[:, [J["left_foot"], J["right_foot"]], 1]
    both_off_ground = feet.min(axis=1) - feet[:5].min()
    return both_off_ground.max() > 0.1


def raises_both_hands(p):
    head = p[:, J["head"], 1]
    return bool(((p[:, J["left_wrist"], 1] > head) & (p[:, J["right_wrist"], 1] > head)).any())


def sits_down_and_stands_up(p):
    pelvis = p[:, J["pelvis"], 1]
    lowest = int(pelvis.argmin())
    return pelvis[0] - pelvis[lowest] > 0.25 and pelvis[lowest:].max() - pelvis[lowest] > 0.2


FAMILIES = {
    "locomotion": ("a person walks forward.", walks_forward),
    "path": ("a person turns around.", turns_around),
    "jump": ("a person jumps on the spot three times.", jumps),
    "upper": ("a person raises both hands above the head and lowers them.", raises_both_hands),
    "whole": ("a person sits down on a chair, then gets back up.", sits_down_and_stands_up),
}


@pytest.fixture(scope="module")
def generator():
    return MotionGenerator(load_checkpoint(default_checkpoint_dir(), "cpu"), device="cpu")


def test_the_shipped_model_is_the_trained_one_and_small(generator):
    directory = default_checkpoint_dir()
    assert generator.model.name == "moscale-default"
    assert generator.model.provenance["trained_steps"] > 0
    assert sum(path.stat().st_size for path in directory.iterdir()) < 40e6


@pytest.mark.parametrize("family", FAMILIES)
def test_every_action_family_is_recognisable(generator, family, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    prompt, shows = FAMILIES[family]
    results = generator.generate([MotionRequest(prompt, 120, seed) for seed in SEEDS])
    passed = [bool(shows(result.positions)) for result in results]
    assert sum(passed) >= 2, f"{prompt!r}: {passed} over seeds {SEEDS}"
