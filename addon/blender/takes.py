"""Takes: K generated variations of one prompt, each its own action on its own NLA track.

The selected take's track plays and the others are muted; no action is active meanwhile, so what
plays is exactly the selected take. Keeping a take makes its action the active one and removes
the other takes (their tracks, and their actions unless something else uses them).
"""

import bpy

from . import action_writer

TRACK_PREFIX = "MoScale take "


def take_tracks(obj) -> list:
    """The take tracks of `obj`, in take order."""
    animation = obj.animation_data if obj is not None else None
    if animation is None:
        return []
    tracks = [track for track in animation.nla_tracks if track.name.startswith(TRACK_PREFIX)
              and track.name[len(TRACK_PREFIX):].isdigit() and len(track.strips) == 1]
    return sorted(tracks, key=lambda track: int(track.name[len(TRACK_PREFIX):]))


def selected_take(obj) -> int:
    """1-based number of the playing take, 0 if there are no takes."""
    for number, track in enumerate(take_tracks(obj), start=1):
        if not track.mute:
            return number
    return 0


def write_takes(obj, built, start_frame: int) -> None:
    """Put the built (action, slot) pairs on take tracks, replacing earlier takes; the active action
    is stashed first, and take 1 plays."""
    _remove_takes(obj, keep=None)
    action_writer.stash_active(obj)
    animation = obj.animation_data
    for number, (action, slot) in enumerate(built, start=1):
        track = animation.nla_tracks.new()
        track.name = f"{TRACK_PREFIX}{number}"
        action_writer.add_strip(track, action, slot)
    select_take(obj, 1)


def select_take(obj, number: int) -> None:
    tracks = take_tracks(obj)
    if not 1 <= number <= len(tracks):
        raise ValueError(f"There is no take {number}; {obj.name} has {len(tracks)} takes")
    for index, track in enumerate(tracks, start=1):
        track.mute = index != number


def keep_take(obj, number: int):
    """Make take `number` the active action and remove the other takes; returns the kept action."""
    tracks = take_tracks(obj)
    if not 1 <= number <= len(tracks):
        raise ValueError(f"There is no take {number}; {obj.name} has {len(tracks)} takes")
    strip = tracks[number - 1].strips[0]
    action = strip.action
    slot = strip.action_slot if action_writer.SLOTTED_ACTIONS else None
    _remove_takes(obj, keep=action)
    action_writer.assign(obj, action, slot)
    return action


def _remove_takes(obj, keep) -> None:
    """Remove the take tracks, and their actions (except `keep`) once nothing else uses them."""
    animation = obj.animation_data
    for track in take_tracks(obj):
        action = track.strips[0].action
        animation.nla_tracks.remove(track)
        if action is not None and action != keep and action.users == 0:
            bpy.data.actions.remove(action)
