"""Writing retargeted keys into a new Action: F-curves filled in bulk, on either action API.

Blender 4.4 made actions layered, with slots (in 5.0 `action.fcurves` is gone): F-curves live in
a channelbag of the action's keyframe strip, per slot, and assigning an action also assigns a
slot. Blender 4.2 and 4.3 keep F-curves on the action itself. Which API is there is checked once.
"""

import bpy
import numpy as np

from .. import editing, resample
from ..retarget import Retargeted

SLOTTED_ACTIONS = "slots" in bpy.types.Action.bl_rna.properties
PROMPT_PROPERTY = "moscale_prompt"  # on actions we write: the default prompt for regenerating a range
_LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value


def non_quaternion_bones(obj, bone_names) -> list[str]:
    """The bones among `bone_names` whose rotation mode ignores rotation_quaternion."""
    return [name for name in bone_names if obj.pose.bones[name].rotation_mode != 'QUATERNION']


def write_action(obj, keys: Retargeted, name: str, start_frame: int, source_fps: float, scene_fps: float):
    """A new action with the keys resampled to the scene's frame rate, keyed from `start_frame`,
    assigned to `obj`; its previous action is stashed in a muted NLA track."""
    action, slot = build_action(obj, keys, name, name, start_frame, source_fps, scene_fps)
    stash_active(obj)
    assign(obj, action, slot)
    return action


def build_action(obj, keys: Retargeted, name: str, prompt: str, start_frame: int, source_fps: float,
                 scene_fps: float):
    """(a new action keyed as write_action describes, its slot or None), assigned to nothing."""
    rotations = resample.resample_rotations(keys.rotations, source_fps, scene_fps)  # [M, K, 4]
    locations = resample.resample_locations(keys.root_locations, source_fps, scene_fps)  # [M, 3]
    frames = start_frame + np.arange(len(rotations), dtype=np.float64)

    action = bpy.data.actions.new(name)
    action[PROMPT_PROPERTY] = prompt
    try:
        new_fcurve, slot = _fcurve_factory(action, obj)
        for k, bone in enumerate(keys.bone_names):
            path = f'pose.bones["{bpy.utils.escape_identifier(bone)}"]'
            for index in range(4):
                _fill(new_fcurve(f"{path}.rotation_quaternion", index, bone), frames, rotations[:, k, index])
            if bone == keys.root_bone:
                for index in range(3):
                    _fill(new_fcurve(f"{path}.location", index, bone), frames, locations[:, index])
    except Exception:
        bpy.data.actions.remove(action)
        raise
    return action, slot


def _fcurve_factory(action, obj):
    """(new_fcurve(data_path, index, group name), the action's slot or None) for either API."""
    if not SLOTTED_ACTIONS:
        action.id_root = 'OBJECT'
        return (lambda path, index, group: action.fcurves.new(path, index=index, action_group=group)), None
    slot = action.slots.new(id_type='OBJECT', name=obj.name)
    channelbag = action.layers.new("Layer").strips.new(type='KEYFRAME').channelbag(slot, ensure=True)

    def new_fcurve(path, index, group):
        fcurve = channelbag.fcurves.new(path, index=index)
        fcurve.group = channelbag.groups.get(group) or channelbag.groups.new(group)
        return fcurve

    return new_fcurve, slot


def _fill(fcurve, frames, values) -> None:
    """All keys of one F-curve at once: `foreach_set` instead of one keyframe_insert per key."""
    count = len(frames)
    co = np.empty(2 * count, dtype=np.float32)
    co[0::2], co[1::2] = frames, values
    points = fcurve.keyframe_points
    points.add(count)
    points.foreach_set("co", co)
    points.foreach_set("interpolation", np.full(count, _LINEAR, dtype=np.int32))
    fcurve.update()


def stash_active(obj) -> None:
    """Keep the active action in a muted NLA track (as Blender's own Stash does) and unassign it."""
    animation = obj.animation_data or obj.animation_data_create()
    previous = animation.action
    if previous is not None:
        track = animation.nla_tracks.new()
        track.name, track.mute = "[Action Stash]", True
        add_strip(track, previous, animation.action_slot if SLOTTED_ACTIONS else None)
        animation.action = None


def add_strip(track, action, slot):
    strip = track.strips.new(action.name, int(action.frame_range[0]), action)
    if slot is not None:
        strip.action_slot = slot
    return strip


def assign(obj, action, slot) -> None:
    animation = obj.animation_data or obj.animation_data_create()
    animation.action = action
    if SLOTTED_ACTIONS:
        animation.action_slot = slot


def bone_path(bone: str, prop: str) -> str:
    return f'pose.bones["{bpy.utils.escape_identifier(bone)}"].{prop}'


def assigned_fcurves(obj):
    """The F-curves of the object's assigned action (its slot's, on the slotted API), made nothing
    (the panel reads them while drawing)."""
    animation = obj.animation_data
    if not SLOTTED_ACTIONS:
        return animation.action.fcurves
    from bpy_extras import anim_utils

    if animation.action_slot is None:
        return []
    channelbag = anim_utils.action_get_channelbag_for_slot(animation.action, animation.action_slot)
    return channelbag.fcurves if channelbag is not None else []


def fcurve_maker(obj):
    """A function (data_path, index, group) -> (that F-curve of the object's assigned action,
    whether it was just made)."""
    animation = obj.animation_data
    action = animation.action
    if not SLOTTED_ACTIONS:
        def ensure(path, index, group):
            fcurve = action.fcurves.find(path, index=index)
            if fcurve is not None:
                return fcurve, False
            return action.fcurves.new(path, index=index, action_group=group), True
        return ensure
    from bpy_extras import anim_utils

    if animation.action_slot is None:
        raise ValueError(f"The action '{action.name}' has no slot assigned to '{obj.name}'")
    channelbag = anim_utils.action_ensure_channelbag_for_slot(action, animation.action_slot)

    def ensure(path, index, group):
        fcurve = channelbag.fcurves.find(path, index=index)
        if fcurve is not None:
            return fcurve, False
        fcurve = channelbag.fcurves.new(path, index=index)
        fcurve.group = channelbag.groups.get(group) or channelbag.groups.new(group)
        return fcurve, True

    return ensure


def replace_keys(fcurve, frames, values, first: float, last: float) -> None:
    """Replace the keys from `first` to `last` (both included) by linear keys at `frames`; every
    other key keeps its values and handles bit for bit (Blender recalculates the handles of a
    curve's keys when it sorts them, so the kept ones are put back)."""
    points = fcurve.keyframe_points
    old_co = _get(points, "co", 2)
    replaced = editing.keys_in_span(old_co[:, 0], first, last)
    for index in np.flatnonzero(replaced)[::-1]:
        points.remove(points[int(index)], fast=True)
    kept_left, kept_right = _get(points, "handle_left", 2), _get(points, "handle_right", 2)
    kept = len(points)
    count = len(frames)
    co = np.concatenate([_get(points, "co", 2), np.stack([frames, values], axis=-1)]).astype(np.float32)
    interpolation = np.empty(kept + count, dtype=np.int32)
    points.foreach_get("interpolation", interpolation[:kept])
    interpolation[kept:] = _LINEAR
    points.add(count)
    points.foreach_set("co", co.ravel())
    points.foreach_set("interpolation", interpolation)
    fcurve.update()  # sorts the keys and recalculates every handle
    outside = ~editing.keys_in_span(_get(points, "co", 2)[:, 0], first, last)
    for name, saved in (("handle_left", kept_left), ("handle_right", kept_right)):
        handles = _get(points, name, 2)
        handles[outside] = saved
        points.foreach_set(name, handles.astype(np.float32).ravel())


def _get(points, name: str, width: int) -> np.ndarray:
    values = np.empty(len(points) * width, dtype=np.float32)
    points.foreach_get(name, values)
    return values.reshape(-1, width)
