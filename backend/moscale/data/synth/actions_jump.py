"""Jumps: in place, forward, hopping on one foot, jumping jacks. The pelvis is a true parabola
under gravity while airborne (cubic Hermite knots with the take-off and landing velocities,
which reproduce a quadratic exactly), with a crouch before take-off and after landing."""

import numpy as np

from moscale.motion.skeleton import FPS

from .pose import NEUTRAL, STAND_HEIGHT, Track, arm, hermite, keyframes, leg, mirror, offsets, seconds
from .segment import Segment, action

GRAVITY = 9.81
_TAKEOFF_RISE = 0.04   # pelvis above standing at take-off and touch-down (legs straight, toes pointed)


def _both(side_pose):
    return side_pose("left") + side_pose("right")


def _jumps(rng, reps: int, apex: float, distance: float = 0.0, hop_side: str | None = None,
           jacks: bool = False) -> Track:
    """`reps` jumps of `apex` metres (pelvis rise above take-off), each `distance` metres
    forward; hop_side keeps the other foot off the floor; jacks alternate legs apart and together."""
    v0 = np.sqrt(2.0 * GRAVITY * apex)                  # m/s up at take-off
    flight = 2.0 * v0 / GRAVITY * FPS                   # frames in the air
    forward_speed = distance / (flight / FPS)           # m/s while airborne
    depth = rng.uniform(0.08, 0.14) if (hop_side or jacks) else rng.uniform(0.14, 0.22)
    crouch_frames, push_frames, land_frames = seconds(0.3), 3.0, 4.0
    tuck = 0.3 if (hop_side or jacks) else 1.0

    crouch = (_both(lambda s: leg(s, hip=-0.7, knee=1.2, ankle=-0.5)) + offsets(spine1=(0.35, 0, 0))
              + arm("left", flex=-0.5 * tuck) + arm("right", flex=-0.5 * tuck))
    takeoff = _both(lambda s: leg(s, ankle=0.5)) + arm("left", flex=1.9 * tuck) + arm("right", flex=1.9 * tuck)
    airborne = (_both(lambda s: leg(s, hip=-0.5 * tuck, knee=0.9 * tuck, ankle=0.3))
                + arm("left", flex=1.2 * tuck) + arm("right", flex=1.2 * tuck))
    if hop_side:
        raised = leg("right", hip=-0.6, knee=1.4)  # authored for a left hop, mirrored below
        crouch, takeoff, airborne = crouch + raised, takeoff + raised, airborne + raised
        crouch = crouch + arm("left", abduct=0.5) + arm("right", abduct=0.5)
    spread = _both(lambda s: leg(s, hip_out=0.3)) + arm("left", abduct=2.6) + arm("right", abduct=2.6)

    time, forward = seconds(rng.uniform(0.2, 0.4)), 0.0
    angle_keys = [(0.0, np.zeros_like(NEUTRAL)), (float(time), np.zeros_like(NEUTRAL))]
    root_knots = [(0.0, STAND_HEIGHT, 0.0, 0.0, 0.0), (float(time), STAND_HEIGHT, 0.0, 0.0, 0.0)]
    flights = []
    for rep in range(reps):
        apart = jacks and rep % 2 == 0
        extra = spread if apart else 0.0
        time += crouch_frames if rep == 0 else 0.0
        if rep == 0:
            angle_keys.append((float(time), crouch))
            root_knots.append((float(time), STAND_HEIGHT - depth, 0.0, forward, 0.0))
        lift_off = time + push_frames
        touch_down = lift_off + flight
        take_off_height = STAND_HEIGHT + _TAKEOFF_RISE
        lean = forward_speed * push_frames / FPS * 0.5
        angle_keys += [(float(lift_off), takeoff), (float(lift_off + flight / 2), airborne + extra),
                       (float(touch_down), takeoff + extra)]
        root_knots += [(float(lift_off), take_off_height, v0 / FPS, forward + lean, forward_speed / FPS),
                       (float(touch_down), take_off_height, -v0 / FPS, forward + lean + distance, forward_speed / FPS)]
        forward += distance + 2 * lean
        flights.append((int(np.floor(lift_off)) + 1, int(np.ceil(touch_down))))
        time = touch_down + land_frames
        landing = crouch + (spread if apart else 0.0)
        angle_keys.append((float(time), landing))
        root_knots.append((float(time), STAND_HEIGHT - depth * 0.8, 0.0, forward, 0.0))
    time += seconds(0.4)
    angle_keys.append((float(time), np.zeros_like(NEUTRAL)))
    root_knots.append((float(time), STAND_HEIGHT, 0.0, forward, 0.0))
    frames = int(time) + seconds(rng.uniform(0.2, 0.4))
    angle_keys.append((float(frames - 1), np.zeros_like(NEUTRAL)))
    root_knots.append((float(frames - 1), STAND_HEIGHT, 0.0, forward, 0.0))

    knots = np.array(root_knots)
    root = np.zeros((frames, 3))
    root[:, 1] = hermite(frames, knots[:, 0], knots[:, 1], knots[:, 2])
    root[:, 2] = hermite(frames, knots[:, 0], knots[:, 3], knots[:, 4])
    angles = NEUTRAL + keyframes(frames, angle_keys)
    contact = np.ones((frames, 2), dtype=bool)
    for start, end in flights:
        contact[start:end] = False
    if hop_side:
        contact[seconds(0.2):frames - seconds(0.15), 1] = False
        if hop_side == "right":
            angles, contact = NEUTRAL + mirror(angles - NEUTRAL), contact[:, ::-1].copy()
    return Track(angles, root, np.zeros(frames), contact)


@action("jump", "jump")
def jump(rng):
    reps = int(rng.integers(1, 4))
    track = _jumps(rng, reps, rng.uniform(0.2, 0.4))
    templates = ["[jump] {reps}", "[jump] up and down {reps}", "[jump] in place {reps}", "[jump] straight up {reps}",
                 "[hop] up in the air with both feet {reps}", "[jump] on the spot {reps}"]
    return Segment("jump", track, templates, {"reps": reps})


@action("jump_forward", "jump")
def jump_forward(rng):
    reps = int(rng.integers(1, 4))
    track = _jumps(rng, reps, rng.uniform(0.15, 0.3), distance=rng.uniform(0.4, 0.9))
    templates = ["[jump] forward {reps}", "[leap] forward {reps}", "[jump] forward with both feet {reps}",
                 "[do] a long jump forward", "[jump] ahead {reps}", "[bound] forward with both feet together {reps}"]
    return Segment("jump_forward", track, templates, {"reps": reps})


@action("hop", "jump")
def hop(rng):
    side, reps = str(rng.choice(["left", "right"])), int(rng.integers(2, 6))
    track = _jumps(rng, reps, rng.uniform(0.08, 0.15), hop_side=side)
    templates = ["[hop] on {poss} {side} foot {reps}", "[hop] on one foot, the {side} one", "[hop] on the {side} leg {reps}",
                 "[jump] on {poss} {side} foot {reps}", "[balance] on the {side} foot and [hop] {reps}",
                 "[hop] {reps} on {poss} {side} leg"]
    return Segment("hop", track, templates, {"side": side, "reps": reps})


@action("jumping_jacks", "jump")
def jumping_jacks(rng):
    count = int(rng.integers(2, 6))
    track = _jumps(rng, 2 * count, rng.uniform(0.06, 0.1), jacks=True)
    templates = ["[do] {n} jumping jacks", "[do] jumping jacks", "[perform] {n} jumping jacks",
                 "[do] star jumps {reps}", "[jump] while spreading arms and legs {reps}", "[do] a set of jumping jacks"]
    return Segment("jumping_jacks", track, templates, {"reps": count, "n": count})
