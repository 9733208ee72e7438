"""Upper-body actions while standing: wave, clap, punch, raise arms, point, throw, reach,
stretch, shrug, salute. Each is a few key poses of the arms (and some torso) eased together;
compose.py can also lay the arms of these over locomotion."""

import numpy as np

from .pose import NEUTRAL, arm, keyframes, mirror, offsets, seconds, standing
from .segment import Segment, action


def _hold_and_return(rng, frames_to_pose, poses: list[np.ndarray], beat: float, side: str = "left") -> np.ndarray:
    """Angles [T, 22, 3]: from neutral into poses[0], through the poses `beat` seconds apart,
    back to neutral. Poses are offsets from the neutral stance authored for the left side and
    mirrored for 'right'."""
    if side == "right":
        poses = [mirror(p) for p in poses]
    rest_before = seconds(rng.uniform(0.2, 0.5))
    keys = [(0.0, NEUTRAL), (float(rest_before), NEUTRAL)]
    time = rest_before + frames_to_pose
    for offset in poses:
        keys.append((float(time), NEUTRAL + offset))
        time += seconds(beat)
    time += frames_to_pose - seconds(beat)
    keys.append((float(time), NEUTRAL))
    frames = int(time + seconds(rng.uniform(0.2, 0.5)))
    keys.append((float(frames - 1), NEUTRAL))
    return keyframes(frames, keys)


def _segment(name, angles, templates, slots, layer) -> Segment:
    return Segment(name, standing(len(angles), angles), templates, slots, layer)


def _sides(rng, both: bool = True) -> str:
    return str(rng.choice(["left", "right", "both"] if both else ["left", "right"]))


def _arms(side: str, **params) -> np.ndarray:
    """The left arm's pose, or both arms' for side 'both' (mirrored later for 'right')."""
    pose = arm("left", **params)
    return pose + mirror(pose) if side == "both" else pose


@action("wave", "upper")
def wave(rng):
    side, high, reps = _sides(rng), bool(rng.random() < 0.6), int(rng.integers(2, 6))
    abduct = rng.uniform(2.2, 2.6) if high else rng.uniform(1.3, 1.6)
    poses = [_arms(side, abduct=abduct, twist=1.4, elbow=e) for e in [0.35] + [0.95, 0.35] * reps]
    angles = _hold_and_return(rng, seconds(0.5), poses, rng.uniform(0.18, 0.26), "right" if side == "right" else "left")
    height = "high" if high else "low"
    where = "above {poss} head" if high else "at shoulder height"
    if side == "both":
        templates = ["[wave] both hands " + where, "[wave] with both arms {reps}", "[wave] both arms " + height,
                     "[raise] both hands and [wave] {reps}", "[wave] both hands in the air",
                     "[give] a big wave with both arms"]
    else:
        templates = ["[wave] {poss} {side} hand {reps}", "[wave] with {poss} {side} hand " + where,
                     "[raise] {poss} {side} hand and [wave] {reps}", "[wave] hello with the {side} hand",
                     "[wave] {poss} {side} arm " + height, "[give] a wave with {poss} {side} hand"]
    layer = [t for t in templates if "{reps}" not in t]
    return _segment("wave", angles, templates, {"side": side, "reps": reps, "height": height}, layer)


@action("clap", "upper")
def clap(rng):
    reps = int(rng.integers(2, 7))
    open_, closed = (_arms("both", flex=1.15, abduct=a, twist=-1.1, elbow=1.1) for a in (0.45, -0.2))
    angles = _hold_and_return(rng, seconds(0.45), [open_] + [closed, open_] * reps, rng.uniform(0.15, 0.22))
    templates = ["[clap] {poss} hands {reps}", "[clap] {reps}", "[clap] {poss} hands together {reps}",
                 "[applaud] by clapping {reps}", "[clap] in front of {poss} chest", "[give] a round of applause"]
    return _segment("clap", angles, templates, {"reps": reps},
                    ["[clap] {poss} hands", "[clap] in front of {poss} chest", "[applaud]"])


@action("punch", "upper")
def punch(rng):
    side, reps = _sides(rng, both=False), int(rng.integers(1, 5))
    guard = _arms("both", flex=1.0, abduct=0.25, twist=-0.9, elbow=2.1)
    hit = guard - arm("left", flex=1.0, abduct=0.25, twist=-0.9, elbow=2.1) \
        + arm("left", flex=1.55, abduct=0.05, twist=-0.3, elbow=0.05) + offsets(spine3=(0, -0.35, 0), spine2=(0, -0.15, 0))
    angles = _hold_and_return(rng, seconds(0.45), [guard] + [hit, guard] * reps, rng.uniform(0.16, 0.24), side)
    templates = ["[punch] with {poss} {side} fist {reps}", "[throw] a {side} punch", "[punch] forward with the {side} hand {reps}",
                 "[jab] with {poss} {side} arm {reps}", "[punch] the air with {poss} {side} hand",
                 "[strike] forward with {poss} {side} fist"]
    return _segment("punch", angles, templates, {"side": side, "reps": reps},
                    ["[punch] with {poss} {side} fist", "[punch] the air with {poss} {side} hand"])


_RAISES = {
    "up": (dict(flex=2.95, elbow=0.1), ("up", "overhead", "above {poss} head")),
    "forward": (dict(flex=1.55, elbow=0.05), ("forward", "in front of {poss} body", "to shoulder height in front")),
    "side": (dict(abduct=1.55, elbow=0.05), ("out to the side", "sideways", "to the side")),
}


@action("raise_arms", "upper")
def raise_arms(rng):
    side, direction = _sides(rng), str(rng.choice(list(_RAISES)))
    params, words = _RAISES[direction]
    angles = _hold_and_return(rng, seconds(rng.uniform(0.5, 0.8)), [_arms(side, **params)] * 2,
                              rng.uniform(0.6, 1.6), "right" if side == "right" else "left")
    how = str(rng.choice(words))
    if side == "both":
        templates = [f"[raise] both arms {how}", f"[lift] both arms {how}", f"[put] both hands {how}",
                     f"[raise] both hands {how} and then [lower] them", f"[hold] both arms {how}"]
    else:
        templates = [f"[raise] {{poss}} {{side}} arm {how}", f"[lift] the {{side}} arm {how}",
                     f"[put] {{poss}} {{side}} hand {how}", f"[raise] {{poss}} {{side}} hand {how} and [lower] it again",
                     f"[hold] {{poss}} {{side}} arm {how} for a moment"]
    return _segment("raise_arms", angles, templates, {"side": side, "direction": direction}, templates[:3])


@action("point", "upper")
def point(rng):
    side = _sides(rng, both=False)
    aim = _arms("left", flex=rng.uniform(1.35, 1.65), abduct=rng.uniform(-0.1, 0.4), twist=-0.3, elbow=0.05)
    angles = _hold_and_return(rng, seconds(0.5), [aim] * 2, rng.uniform(0.8, 1.6), side)
    templates = ["[point] forward with {poss} {side} hand", "[point] ahead with the {side} arm",
                 "[point] at something in front with {poss} {side} hand", "[extend] {poss} {side} arm to point forward",
                 "[point] straight ahead with {poss} {side} index finger"]
    return _segment("point", angles, templates, {"side": side}, templates[:3])


@action("throw", "upper")
def throw(rng):
    side = _sides(rng, both=False)
    windup = arm("left", flex=-0.2, abduct=1.7, twist=1.6, elbow=1.8) + offsets(spine3=(-0.1, 0.4, 0), spine2=(0, 0.2, 0))
    release = arm("left", flex=1.8, abduct=0.3, elbow=0.1) + offsets(spine1=(0.25, 0, 0), spine3=(0, -0.35, 0))
    follow = arm("left", flex=0.7, abduct=0.1, elbow=0.3) + offsets(spine1=(0.3, 0, 0), spine3=(0, -0.3, 0))
    frames = seconds(rng.uniform(0.5, 0.7))
    angles = _hold_and_return(rng, frames, [windup, windup, release, follow], 0.15, side)
    templates = ["[throw] something with {poss} {side} hand", "[throw] a ball with the {side} arm",
                 "[make] a throwing motion with {poss} {side} arm", "[toss] something forward with {poss} {side} hand",
                 "[throw] an object overhand with {poss} {side} arm", "[pitch] a ball with {poss} {side} hand"]
    return _segment("throw", angles, templates, {"side": side}, templates[:3])


@action("reach", "upper")
def reach(rng):
    side = _sides(rng)
    pose = _arms(side, flex=rng.uniform(1.35, 1.6), abduct=0.1, elbow=0.05) + offsets(spine1=(0.3, 0, 0), spine2=(0.1, 0, 0))
    angles = _hold_and_return(rng, seconds(0.6), [pose] * 2, rng.uniform(0.6, 1.4), "right" if side == "right" else "left")
    if side == "both":
        templates = ["[reach] forward with both hands", "[reach] out in front with both arms",
                     "[stretch] both arms forward to reach something", "[reach] ahead with both hands",
                     "[extend] both arms forward to reach something"]
    else:
        templates = ["[reach] forward with {poss} {side} hand", "[reach] out in front with the {side} arm",
                     "[stretch] {poss} {side} arm forward to reach something", "[reach] ahead with the {side} hand",
                     "[extend] {poss} {side} arm forward to reach"]
    return _segment("reach", angles, templates, {"side": side}, templates[:2])


@action("stretch", "upper")
def stretch(rng):
    up = _arms("both", flex=3.0, abduct=0.15, elbow=0.05) + offsets(spine1=(-0.12, 0, 0), spine3=(-0.08, 0, 0), neck=(-0.2, 0, 0))
    angles = _hold_and_return(rng, seconds(0.8), [up] * 2, rng.uniform(1.0, 2.0))
    templates = ["[stretch] {poss} arms overhead", "[stretch] upward with both arms", "[reach] up high with both arms to stretch",
                 "[stretch] both arms above {poss} head", "[do] an overhead stretch", "[stretch] {poss} body upward"]
    return _segment("stretch", angles, templates, {}, templates[:4])


@action("shrug", "upper")
def shrug(rng):
    reps = int(rng.integers(1, 4))
    up = _arms("both", abduct=0.35, twist=0.9, elbow=1.3, shrug=0.35) + offsets(neck=(0, 0, 0.15))
    down = _arms("both", abduct=0.2, twist=0.5, elbow=1.0, shrug=0.05)
    angles = _hold_and_return(rng, seconds(0.35), [down] + [up, down] * reps, rng.uniform(0.3, 0.45))
    templates = ["[shrug] {poss} shoulders {reps}", "[shrug] {reps}", "[shrug] as if to say i do not know",
                 "[lift] {poss} shoulders in a shrug {reps}", "[give] a shrug", "[shrug] {poss} shoulders and open {poss} hands"]
    return _segment("shrug", angles, templates, {"reps": reps}, ["[shrug] {poss} shoulders", "[shrug]"])


@action("salute", "upper")
def salute(rng):
    side = "right" if rng.random() < 0.8 else "left"
    pose = arm("left", flex=0.45, abduct=1.35, twist=0.9, elbow=2.35) + offsets(neck=(-0.05, 0, 0))
    angles = _hold_and_return(rng, seconds(0.45), [pose] * 2, rng.uniform(0.8, 1.5), side)
    templates = ["[salute] with {poss} {side} hand", "[give] a military salute with the {side} hand",
                 "[raise] {poss} {side} hand to {poss} forehead in a salute", "[salute] {adv} with the {side} hand",
                 "[salute] someone with the {side} hand", "[stand] and [salute] with {poss} {side} hand"]
    return _segment("salute", angles, templates, {"side": side, "speed": "normal"}, templates[:3])
