"""Fixtures of synthetic motions for the motion-package tests."""

import pytest

from synthetic_motion import SyntheticMotion, make_walk


@pytest.fixture
def walk() -> SyntheticMotion:
    return make_walk()


@pytest.fixture
def turning_walk() -> SyntheticMotion:
    """The walk turning a full 360 degrees about +Y over 120 frames (it faces -Z midway)."""
    return make_walk(frames=120, turns=1.0, seed=1)


@pytest.fixture
def synthetic_walk():
    """Factory for variations (other skeletons, lengths, seeds, turns)."""
    return make_walk
