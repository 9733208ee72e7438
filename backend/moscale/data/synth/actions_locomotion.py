"""Locomotion and paths: walk, jog, run, backwards, sidestep, sneak, march, turns, circles,
zigzag, diagonal and spins, all from the one gait generator with different speeds and headings."""

import numpy as np

from moscale.motion.skeleton import FPS

from . import gait as gaits
from .gait import Gait, locomote
from .physics import contact_intervals
from .pose import Track, ramp, seconds, smoothstep
from .segment import Segment, action

_RISE, _FALL = seconds(0.6), seconds(0.6)
_SETTLE = seconds(0.5)  # standing frames after the gait fades, in which a last step finishes


def _speed_class(speed: float, slow: float, fast: float) -> str:
    return "slow" if speed < slow else "fast" if speed > fast else "normal"


def step_count(track: Track) -> int:
    """Steps actually taken: swings that start and end on the floor, both feet together."""
    return sum(max(len(contact_intervals(track.contact[:, side])) - 1, 0) for side in range(2))


def _move(gait: Gait, speed: float, cruise: int, travel: float = 0.0, heading=None) -> Track:
    """Ease from standing into a gait, hold it `cruise` frames, ease back to standing.
    `heading(distance [T], time [T]) -> [T]` turns the path; default straight ahead."""
    frames = _RISE + cruise + _FALL + _SETTLE
    activity = np.concatenate([ramp(frames - _SETTLE, _RISE, _FALL), np.zeros(_SETTLE)])
    speeds = speed * activity
    distance = np.concatenate([[0.0], np.cumsum(speeds[:-1]) / FPS])
    time = np.arange(frames) / FPS
    headings = np.zeros(frames) if heading is None else heading(distance, time)
    return locomote(speeds, headings, np.full(frames, travel), activity, gait)


def _cruise_for_steps(steps: int, gait: Gait) -> int:
    return max(int(round(steps / gait.cadence * FPS)), 1)


def _styled(gait: Gait, speed: float, nominal: float) -> Gait:
    """The gait at another speed: cadence grows with the square root of speed, as people's do."""
    return Gait(**{**gait.__dict__, "cadence": gait.cadence * float(np.sqrt(speed / nominal))})


def _straight(rng, name, gait, speed_range, nominal, steps_range, slow_fast, templates, layer, travel=0.0,
              slots=None) -> Segment:
    speed = float(rng.uniform(*speed_range))
    styled = _styled(gait, speed, nominal)
    track = _move(styled, speed, _cruise_for_steps(int(rng.integers(*steps_range)), styled), travel)
    all_slots = {"speed": _speed_class(speed, *slow_fast), "steps": step_count(track), **(slots or {})}
    return Segment(name, track, templates, all_slots, layer)


@action("walk", "locomotion")
def walk(rng):
    return _straight(rng, "walk", gaits.WALK, (0.9, 1.8), 1.4, (4, 12), (1.1, 1.6), [
        "[walk] forward {adv}", "[walk] {steps} steps forward {adv}", "[take] {steps} steps forward {adv}",
        "[walk] straight ahead {adv}", "[walk] forward in a straight line {adv}", "[walk] ahead {adv}",
    ], ["[walk] forward", "[walk] straight ahead", "[walk] ahead"])


@action("jog", "locomotion")
def jog(rng):
    return _straight(rng, "jog", gaits.JOG, (1.9, 2.6), 2.2, (6, 14), (2.0, 2.45), [
        "[jog] forward {adv}", "[jog] {steps} steps forward", "[jog] straight ahead {adv}",
        "[jog] forward in a straight line", "[jog] lightly forward", "[go] for a short jog forward",
    ], ["[jog] forward", "[jog] straight ahead"])


@action("run", "locomotion")
def run(rng):
    return _straight(rng, "run", gaits.RUN, (2.8, 3.6), 3.0, (6, 16), (2.9, 3.4), [
        "[run] forward {adv}", "[run] straight ahead {adv}", "[run] {steps} steps forward",
        "[run] forward in a straight line", "[dash] forward", "[sprint] ahead {adv}",
    ], ["[run] forward", "[run] straight ahead"])


@action("walk_backwards", "locomotion")
def walk_backwards(rng):
    return _straight(rng, "walk_backwards", gaits.BACKWARD, (0.5, 1.0), 0.8, (3, 8), (0.65, 0.9), [
        "[walk] backwards {adv}", "[walk] backward {steps} steps", "[take] {steps} steps backwards {adv}",
        "[move] backwards {adv}", "[back] up {adv}", "[step] backwards {adv}",
    ], ["[walk] backwards", "[walk] backward"], travel=np.pi)


@action("sidestep", "locomotion")
def sidestep(rng):
    side = str(rng.choice(["left", "right"]))
    travel = np.pi / 2 if side == "left" else -np.pi / 2
    return _straight(rng, "sidestep", gaits.SIDESTEP, (0.4, 0.7), 0.55, (4, 10), (0.45, 0.65), [
        "[sidestep] to the {side} {adv}", "[step] sideways to {poss} {side}", "[shuffle] sideways to the {side}",
        "[take] {steps} side steps to the {side}", "[move] sideways towards the {side} {adv}",
        "[side step] to the {side}",
    ], ["[sidestep] to the {side}", "[step] sideways to the {side}"], travel, {"side": side})


@action("sneak", "locomotion")
def sneak(rng):
    return _straight(rng, "sneak", gaits.SNEAK, (0.4, 0.8), 0.6, (4, 10), (0.5, 0.7), [
        "[tiptoe] forward {adv}", "[sneak] forward on tiptoes", "[walk] on {poss} toes {adv}",
        "[creep] forward quietly", "[sneak] forward {steps} steps", "[tiptoe] ahead carefully",
    ], ["[tiptoe] forward", "[sneak] forward"])


@action("march", "locomotion")
def march(rng):
    return _straight(rng, "march", gaits.MARCH, (0.8, 1.3), 1.1, (4, 12), (0.9, 1.2), [
        "[march] forward {adv}", "[march] {steps} steps forward", "[march] like a soldier",
        "[walk] forward lifting {poss} knees high", "[march] ahead swinging {poss} arms",
        "[march] straight ahead",
    ], ["[march] forward", "[march] ahead"])


def _turn_on_the_spot(angle: float, degrees_per_second: float, gait: Gait = gaits.SHUFFLE) -> Track:
    duration = int(round(abs(angle) / np.radians(degrees_per_second) * FPS))
    return _move(gait, 0.0, duration, heading=lambda distance, time:
                 angle * smoothstep((time * FPS - _RISE * 0.5) / (duration + _RISE)))


@action("turn", "path")
def turn(rng):
    side = str(rng.choice(["left", "right"]))
    degrees = int(rng.choice([45, 90, 90, 135]))
    angle = np.radians(degrees) * (1.0 if side == "left" else -1.0)  # left is counter-clockwise
    clock = "counterclockwise" if side == "left" else "clockwise"
    track = _turn_on_the_spot(angle, rng.uniform(70, 120))
    return Segment("turn", track, [
        "[turn] {side}", "[turn] {angle} degrees to the {side}", "[turn] to {poss} {side}",
        "[rotate] {angle} degrees {clock}", "[pivot] to the {side} on the spot", "[turn] {side} in place",
    ], {"side": side, "angle": str(degrees), "clock": clock})


@action("turn_around", "path")
def turn_around(rng):
    side = str(rng.choice(["left", "right"]))
    track = _turn_on_the_spot(np.pi * (1.0 if side == "left" else -1.0), rng.uniform(90, 150))
    return Segment("turn_around", track, [
        "[turn] around", "[turn] around to face the other way", "[turn] 180 degrees",
        "[turn] around over {poss} {side} shoulder", "[turn] all the way around to the {side}",
        "[turn] to face the opposite direction",
    ], {"side": side})


@action("spin", "path")
def spin(rng):
    side = str(rng.choice(["left", "right"]))
    track = _turn_on_the_spot(2 * np.pi * (1.0 if side == "left" else -1.0), rng.uniform(240, 330),
                              Gait(**{**gaits.SHUFFLE.__dict__, "cadence": 2.8}))
    clock = "counterclockwise" if side == "left" else "clockwise"
    return Segment("spin", track, [
        "[spin] around", "[spin] around once to the {side}", "[spin] in a full circle",
        "[turn] a full circle {clock}", "[spin] {clock} on the spot", "[do] a full spin to the {side}",
    ], {"side": side, "clock": clock}, ["[spin] around", "[turn] around in a circle"])


@action("circle", "path")
def circle(rng):
    side = str(rng.choice(["left", "right"]))
    radius, speed = rng.uniform(0.9, 1.4), rng.uniform(1.0, 1.3)
    sign = 1.0 if side == "left" else -1.0
    cruise = int(round((2 * np.pi * radius / speed - 0.6) * FPS))
    track = _move(_styled(gaits.WALK, speed, 1.4), speed, cruise, heading=lambda d, t: sign * d / radius)
    clock = "counterclockwise" if side == "left" else "clockwise"
    return Segment("circle", track, [
        "[walk] in a circle", "[walk] in a {clock} circle", "[walk] around in a circle to the {side}",
        "[circle] around to the {side}", "[walk] a full circle {clock}", "[walk] in a circle {adv}",
    ], {"side": side, "clock": clock, "speed": _speed_class(speed, 1.1, 1.6)},
        ["[walk] in a circle", "[walk] in a {clock} circle", "[walk] around in a circle"])


@action("zigzag", "path")
def zigzag(rng):
    side = str(rng.choice(["left", "right"]))
    legs, leg_length, speed = int(rng.integers(3, 5)), rng.uniform(1.2, 1.8), rng.uniform(1.0, 1.4)
    sign = 1.0 if side == "left" else -1.0
    angle = np.radians(rng.uniform(35, 50))

    def heading(distance, time):
        # A smoothed square wave: +angle, -angle, ... changing direction every leg_length metres.
        wave = np.sin(np.pi * distance / leg_length + 1e-3)
        return sign * angle * np.tanh(3.0 * wave) / np.tanh(3.0)

    cruise = int(round((legs * leg_length / speed - 0.6) * FPS))
    track = _move(_styled(gaits.WALK, speed, 1.4), speed, cruise, heading=heading)
    return Segment("zigzag", track, [
        "[walk] in a zigzag", "[zigzag] forward", "[walk] forward in a zigzag pattern {adv}",
        "[walk] zigzag, first to the {side}", "[zigzag] left and right while moving forward",
        "[walk] in a zig zag line starting to the {side}",
    ], {"side": side, "speed": _speed_class(speed, 1.1, 1.6)}, ["[walk] in a zigzag", "[zigzag] forward"])


@action("diagonal", "path")
def diagonal(rng):
    side = str(rng.choice(["left", "right"]))
    speed, steps = rng.uniform(1.0, 1.5), int(rng.integers(5, 10))
    angle = np.radians(45.0) * (1.0 if side == "left" else -1.0)
    styled = _styled(gaits.WALK, speed, 1.4)
    track = _move(styled, speed, _cruise_for_steps(steps, styled),
                  heading=lambda d, t: angle * smoothstep(d / 0.8))
    return Segment("diagonal", track, [
        "[walk] diagonally to the {side}", "[walk] forward and to the {side}", "[walk] diagonally forward {side}",
        "[head] off diagonally to the {side} {adv}", "[walk] at an angle to the {side}",
        "[walk] diagonally towards {poss} {side}",
    ], {"side": side, "speed": _speed_class(speed, 1.1, 1.6)},
        ["[walk] diagonally to the {side}", "[walk] forward and to the {side}"])
