"""What an action produces (a track plus caption templates) and the registry of actions.

Caption templates are verb phrases with the verb in brackets, in its base form, so captions.py
can say "waves" or "waving": "[wave] {poss} {side} hand {reps}". Slots in braces are filled
per caption from `slots` (see captions.fill) so each caption words counts, sides and speeds
its own way.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .pose import Track

FAMILIES = ("locomotion", "path", "jump", "upper", "whole")


@dataclass
class Segment:
    action: str                      # registry name, e.g. "kick"
    track: Track
    templates: list[str]             # >= 5 bracketed-verb phrases naming the action and its parameters
    slots: dict = field(default_factory=dict)
    # Count-free phrases for "... while <gerund>" layering (upper body and locomotion only).
    layer_templates: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Action:
    name: str
    family: str
    make: Callable[[np.random.Generator], Segment]


ACTIONS: dict[str, Action] = {}


def action(name: str, family: str):
    """Register `make(rng) -> Segment` under `name`."""
    if family not in FAMILIES:
        raise ValueError(f"unknown action family {family!r}")

    def register(make):
        if name in ACTIONS:
            raise ValueError(f"action {name!r} registered twice")
        ACTIONS[name] = Action(name, family, make)
        return make

    return register
