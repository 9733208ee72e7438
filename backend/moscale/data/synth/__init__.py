"""Procedural motion corpus: parameterised actions, compositions, foot planting, captions, and
a writer for HumanML3D's folder layout (what the shipped default model learns from)."""

from .compose import Clip, make_clip
from .corpus import synthesize_corpus
from .physics import foot_skate_ratio, ground_penetration
from .segment import ACTIONS

__all__ = ["ACTIONS", "Clip", "foot_skate_ratio", "ground_penetration", "make_clip", "synthesize_corpus"]
