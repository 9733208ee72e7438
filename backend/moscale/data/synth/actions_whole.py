"""Lower- and whole-body actions: kick, squat, lunge, kneel, bow, crouch, sit down and stand up,
side bend, look around, stand idle. Each is a handful of key poses with pelvis positions and
which feet are planted from that key on; physics.plant_feet makes the planted feet exact."""

import numpy as np

from .pose import NEUTRAL, STAND_HEIGHT, Track, arm, keyframes, leg, mirror, offsets, seconds
from .segment import Segment, action

BOTH, LEFT_ONLY, RIGHT_ONLY = (True, True), (True, False), (False, True)


def keyed(keys: list[tuple[float, np.ndarray, tuple, tuple]], side: str = "left") -> Track:
    """A track from keys (seconds, pose offset [22, 3], pelvis offset (x, y, z) from standing,
    feet planted from this key on (left, right)), eased with continuous velocity. Keys are
    authored for the left side; side 'right' mirrors them."""
    frames_at = [seconds(k[0]) for k in keys]
    frames = frames_at[-1] + 1
    offsets = np.stack([k[1] for k in keys])
    roots = np.array([k[2] for k in keys], dtype=np.float64)
    contacts = [k[3] for k in keys]
    if side == "right":
        offsets = mirror(offsets)
        roots[:, 0] *= -1.0
        contacts = [(right, left) for left, right in contacts]
    times = [(float(t), o) for t, o in zip(frames_at, offsets)]
    angles = NEUTRAL + keyframes(frames, times)
    root = keyframes(frames, [(float(t), r) for t, r in zip(frames_at, roots)]) + np.array([0.0, STAND_HEIGHT, 0.0])
    contact = np.zeros((frames, 2), dtype=bool)
    for start, end, state in zip(frames_at, frames_at[1:] + [frames], contacts):
        contact[start:end] = state
    return Track(angles, root, np.zeros(frames), contact)


def _repeat(rng, first: float, one: list, reps: int, period: float) -> list:
    """Keys of a repeated movement: `one` is keys (time within the rep, offset, root, contact)."""
    return [(first + rep * period + t, pose, root, contact) for rep in range(reps) for t, pose, root, contact in one]


_ZERO = np.zeros_like(NEUTRAL)
_STILL = (0.0, 0.0, 0.0)


def _stand(t, contact=BOTH):
    return (t, _ZERO, _STILL, contact)


@action("kick", "whole")
def kick(rng):
    side, reps = str(rng.choice(["left", "right"])), int(rng.integers(1, 3))
    high = rng.uniform(1.2, 1.6)
    balance = arm("left", abduct=0.5) + arm("right", abduct=0.5, flex=0.4) + offsets(spine1=(-0.1, 0, 0))
    chamber = leg("left", hip=-1.1, knee=1.7, ankle=0.2) + balance
    extend = leg("left", hip=-high, knee=0.05, ankle=0.5) + balance + offsets(spine1=(-0.2, 0, 0))
    one = [(0.0, _ZERO, _STILL, RIGHT_ONLY), (0.3, chamber, (0, 0, 0.0), RIGHT_ONLY),
           (0.45, extend, (0, 0, -0.03), RIGHT_ONLY), (0.65, chamber, _STILL, RIGHT_ONLY), (0.9, _ZERO, _STILL, BOTH)]
    start = rng.uniform(0.2, 0.5)
    keys = [_stand(0.0)] + _repeat(rng, start, one, reps, 1.1)
    keys.append(_stand(keys[-1][0] + rng.uniform(0.3, 0.6)))
    templates = ["[kick] with {poss} {side} leg {reps}", "[kick] {poss} {side} foot forward {reps}",
                 "[do] a {side} kick", "[kick] forward with the {side} foot {reps}", "[kick] the air with {poss} {side} leg",
                 "[lift] {poss} {side} leg and [kick] forward"]
    return Segment("kick", keyed(keys, side), templates, {"side": side, "reps": reps})


def _reps_templates(reps: int, templates: list[str], counted: list[str]) -> list[str]:
    """`counted` templates say '{n} squats' and only read right for more than one."""
    return templates + (counted if reps > 1 else [])


@action("squat", "whole")
def squat(rng):
    reps, depth = int(rng.integers(1, 5)), rng.uniform(0.3, 0.45)
    down = (leg("left", hip=-1.4, knee=2.1, ankle=-0.7, hip_out=0.15) + leg("right", hip=-1.4, knee=2.1, ankle=-0.7, hip_out=0.15)
            + arm("left", flex=1.45) + arm("right", flex=1.45) + offsets(spine1=(0.4, 0, 0), neck=(-0.3, 0, 0)))
    period = rng.uniform(1.4, 2.0)
    one = [(0.0, _ZERO, _STILL, BOTH), (period * 0.5, down, (0, -depth, -0.12), BOTH)]
    keys = [_stand(0.0)] + _repeat(rng, 0.3, one, reps, period)
    keys.append(_stand(keys[-1][0] + period * 0.5))
    keys.append(_stand(keys[-1][0] + 0.3))
    templates = _reps_templates(reps, ["[squat] down {reps}", "[squat] {reps}", "[bend] {poss} knees into a squat {reps}",
                                       "[do] a deep squat {reps}", "[squat] down and [stand] back up {reps}"],
                                ["[do] {n} squats", "[perform] {n} squats"])
    return Segment("squat", keyed(keys), templates, {"reps": reps, "n": reps})


@action("lunge", "whole")
def lunge(rng):
    side, reps = str(rng.choice(["left", "right"])), int(rng.integers(1, 3))
    lifted = leg("left", hip=-0.9, knee=1.2, ankle=-0.2)
    landed = leg("left", hip=-0.75, knee=0.35, ankle=-0.1) + leg("right", hip=0.3, knee=0.15, ankle=0.3)
    low = (leg("left", hip=-1.45, knee=1.45, ankle=-0.1) + leg("right", hip=0.15, knee=1.3, ankle=-0.3)
           + offsets(spine1=(0.05, 0, 0)) + arm("left", abduct=0.2) + arm("right", abduct=0.2))
    one = [(0.0, _ZERO, _STILL, RIGHT_ONLY), (0.25, lifted, (0, -0.02, 0.08), RIGHT_ONLY),
           (0.5, landed, (0, -0.07, 0.28), BOTH), (1.0, low, (0, -0.32, 0.38), BOTH), (1.5, low, (0, -0.32, 0.38), BOTH),
           (1.9, landed, (0, -0.07, 0.28), RIGHT_ONLY), (2.15, lifted, (0, -0.02, 0.08), RIGHT_ONLY),
           (2.4, _ZERO, _STILL, BOTH)]
    keys = [_stand(0.0)] + _repeat(rng, rng.uniform(0.2, 0.5), one, reps, 2.5)
    keys.append(_stand(keys[-1][0] + 0.4))
    templates = ["[lunge] forward with {poss} {side} leg {reps}", "[step] forward into a lunge with the {side} foot",
                 "[do] a {side} leg lunge {reps}", "[lunge] forward on {poss} {side} leg", "[take] a lunge step with the {side} leg {reps}"]
    return Segment("lunge", keyed(keys, side), templates, {"side": side, "reps": reps})


@action("kneel", "whole")
def kneel(rng):
    side = str(rng.choice(["left", "right"]))
    hold = rng.uniform(1.0, 2.5)
    # `side` is the knee that goes down: it steps back while the other foot stays in front.
    lifted = leg("left", hip=0.2, knee=1.0) + leg("right", hip=-0.2, knee=0.4)
    back = leg("left", hip=0.35, knee=0.2, ankle=0.4) + leg("right", hip=-0.3, knee=0.3)
    down = (leg("left", hip=0.05, knee=1.6, ankle=-0.45) + leg("right", hip=-1.45, knee=1.5, ankle=-0.05)
            + arm("right", flex=0.6, elbow=0.9) + offsets(spine1=(0.1, 0, 0)))
    at_back, at_down = (0, -0.06, -0.05), (0, -0.36, -0.12)
    keys = [_stand(0.0), (0.3, _ZERO, _STILL, RIGHT_ONLY), (0.5, lifted, (0, -0.02, -0.02), RIGHT_ONLY),
            (0.75, back, at_back, BOTH), (1.6, down, at_down, BOTH), (1.6 + hold, down, at_down, BOTH),
            (2.5 + hold, back, at_back, RIGHT_ONLY), (2.75 + hold, lifted, (0, -0.02, -0.02), RIGHT_ONLY),
            (3.0 + hold, _ZERO, _STILL, BOTH), _stand(3.4 + hold)]
    templates = ["[kneel] down on {poss} {side} knee", "[go] down on the {side} knee and [stand] up again",
                 "[kneel] on one knee, the {side} one", "[drop] to {poss} {side} knee", "[kneel] down on the {side} knee briefly",
                 "[get] down on {poss} {side} knee and then [rise]"]
    return Segment("kneel", keyed(keys, side), templates, {"side": side})


@action("bow", "whole")
def bow(rng):
    reps, depth = int(rng.integers(1, 3)), rng.uniform(0.7, 1.1)
    bent = (leg("left", hip=-0.35 * depth) + leg("right", hip=-0.35 * depth)
            + offsets(pelvis=(0.4 * depth, 0, 0), spine1=(0.25 * depth, 0, 0), spine2=(0.2 * depth, 0, 0),
                     spine3=(0.15 * depth, 0, 0)))
    period = rng.uniform(1.8, 2.6)
    one = [(0.0, _ZERO, _STILL, BOTH), (0.6, bent, (0, -0.02, -0.06), BOTH), (period - 0.8, bent, (0, -0.02, -0.06), BOTH)]
    keys = [_stand(0.0)] + _repeat(rng, 0.3, one, reps, period)
    keys.append(_stand(keys[-1][0] + 0.8))
    keys.append(_stand(keys[-1][0] + 0.3))
    templates = ["[bow] {reps}", "[bow] forward {adv}", "[take] a bow", "[bend] forward at the waist in a bow {reps}",
                 "[bow] deeply {reps}", "[make] a polite bow"]
    return Segment("bow", keyed(keys), templates, {"reps": reps, "speed": "normal"})


@action("crouch", "whole")
def crouch(rng):
    hold = rng.uniform(1.0, 2.5)
    low = (leg("left", hip=-1.7, knee=2.4, ankle=-0.5, hip_out=0.2) + leg("right", hip=-1.7, knee=2.4, ankle=-0.5, hip_out=0.2)
           + offsets(spine1=(0.5, 0, 0), spine2=(0.2, 0, 0), neck=(-0.5, 0, 0)) + arm("left", flex=0.9, elbow=0.8)
           + arm("right", flex=0.9, elbow=0.8))
    keys = [_stand(0.0), _stand(0.3), (1.2, low, (0, -0.48, -0.1), BOTH), (1.2 + hold, low, (0, -0.48, -0.1), BOTH),
            _stand(2.2 + hold), _stand(2.5 + hold)]
    templates = ["[crouch] down", "[crouch] low and [stand] back up", "[crouch] down for a moment",
                 "[get] down into a crouch", "[crouch] down close to the ground {adv}", "[duck] down into a crouch"]
    return Segment("crouch", keyed(keys), templates, {"speed": "normal"})


@action("sit_stand", "whole")
def sit_stand(rng):
    hold = rng.uniform(1.0, 3.0)
    lean = (leg("left", hip=-0.9, knee=1.0) + leg("right", hip=-0.9, knee=1.0)
            + offsets(spine1=(0.45, 0, 0), spine2=(0.15, 0, 0)) + arm("left", flex=0.4) + arm("right", flex=0.4))
    seated = (leg("left", hip=-1.55, knee=1.5) + leg("right", hip=-1.55, knee=1.5) + offsets(spine1=(0.1, 0, 0))
              + arm("left", flex=0.6, elbow=0.9) + arm("right", flex=0.6, elbow=0.9))
    keys = [_stand(0.0), _stand(0.3), (1.0, lean, (0, -0.22, -0.15), BOTH), (1.6, seated, (0, -0.43, -0.3), BOTH),
            (1.6 + hold, seated, (0, -0.43, -0.3), BOTH), (2.3 + hold, lean, (0, -0.22, -0.15), BOTH),
            _stand(3.0 + hold), _stand(3.3 + hold)]
    templates = ["[sit] down and then [stand] up", "[sit] down on a chair, then [get] back up",
                 "[take] a seat and [stand] up again", "[sit] down for a moment and [rise] again",
                 "[lower] down onto a seat and then [stand] back up", "[sit] down {adv} and [stand] up"]
    return Segment("sit_stand", keyed(keys), templates, {"speed": "normal"})


@action("side_bend", "whole")
def side_bend(rng):
    side, reps = str(rng.choice(["left", "right"])), int(rng.integers(1, 3))
    # Bending to the left tilts the spine towards +X: negative z in the pose convention.
    bent = (offsets(spine1=(0, 0, -0.25), spine2=(0, 0, -0.2), spine3=(0, 0, -0.15))
            + arm("right", abduct=2.7, elbow=0.3) + arm("left", abduct=0.15))
    one = [(0.0, _ZERO, _STILL, BOTH), (0.8, bent, (-0.03, 0, 0), BOTH), (1.5, bent, (-0.03, 0, 0), BOTH)]
    keys = [_stand(0.0)] + _repeat(rng, 0.3, one, reps, 2.2)
    keys.append(_stand(keys[-1][0] + 0.8))
    keys.append(_stand(keys[-1][0] + 0.3))
    templates = ["[bend] to the {side} {reps}", "[lean] {poss} upper body to the {side}", "[do] a side bend to the {side}",
                 "[stretch] sideways to the {side} with one arm overhead", "[bend] sideways towards {poss} {side} {reps}"]
    return Segment("side_bend", keyed(keys, side), templates, {"side": side, "reps": reps})


@action("look_around", "whole")
def look_around(rng):
    first = str(rng.choice(["left", "right"]))
    look = offsets(spine3=(0, 0.3, 0), neck=(0, 0.5, 0), head=(0, 0.35, 0))  # towards the left (+yaw)
    keys = [_stand(0.0), _stand(0.3), (1.0, look, _STILL, BOTH), (1.6, look, _STILL, BOTH),
            (2.6, mirror(look), _STILL, BOTH), (3.2, mirror(look), _STILL, BOTH), _stand(4.0), _stand(4.3)]
    other = "right" if first == "left" else "left"
    templates = ["[look] around", "[look] to the {side} and then to the {other}", "[turn] {poss} head to look around",
                 "[glance] {side} and {other}", "[look] around {adv}", "[look] over to {poss} {side}, then to {poss} {other}"]
    return Segment("look_around", keyed(keys, first), templates, {"side": first, "other": other, "speed": "normal"})


@action("idle", "whole")
def idle(rng):
    duration = rng.uniform(2.0, 5.0)
    shift = rng.uniform(0.02, 0.04)
    times = np.arange(0.0, duration, 1.0)
    keys = [(float(t), offsets(spine1=(0.02 * (-1) ** i, 0, 0)), ((-1) ** i * shift, -0.005 * (i % 2), 0), BOTH)
            for i, t in enumerate(times)] + [_stand(float(times[-1] + 1.0))]
    templates = ["[stand] still", "[stand] idle", "[wait] in place", "[stand] in place doing nothing", "[remain] standing {adv}",
                 "[stand] and [wait]"]
    return Segment("idle", keyed(keys), templates, {"speed": "normal"}, ["[stand] still", "[stand] in place"])
