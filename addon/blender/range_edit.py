"""Regenerate a frame range and extend an action: reading the rig's animation back as context for
the backend, and writing the returned motion into the existing action, only where it belongs."""

import math
import random
from dataclasses import dataclass

import bpy
import numpy as np

from .. import editing, readback, resample, retarget
from ..backend.moscale.motion.skeleton import DEFAULT_REST_OFFSETS, JOINT_NAMES, PARENTS
from ..generation import EditRequest, ExtendRequest
from . import action_writer, session
from .armature import rig_from_object
from .properties import scene_fps


def animated_armature(context):
    """The armature to edit and its action; ValueError with what to change when there is none."""
    obj = context.scene.moscale.keyable_target(context, "No armature to edit: select one or set MoScale > Armature")
    animation = obj.animation_data
    if animation is None or animation.action is None:
        raise ValueError(f"'{obj.name}' has no action to edit; generate or key one first")
    return obj, animation.action


def scene_range(context) -> editing.FrameRange:
    """The range to regenerate, by the precedence of editing.choose_range."""
    scene, settings = context.scene, context.scene.moscale
    preview = (scene.frame_preview_start, scene.frame_preview_end) if scene.use_preview_range else None
    selected = None
    obj = settings.target_object(context)
    if obj is not None and obj.animation_data is not None and obj.animation_data.action is not None:
        fcurves = action_writer.assigned_fcurves(obj)
        frames, chosen = [], []
        for fcurve in fcurves:
            co = np.empty(2 * len(fcurve.keyframe_points), dtype=np.float32)
            select = np.empty(len(fcurve.keyframe_points), dtype=bool)
            fcurve.keyframe_points.foreach_get("co", co)
            fcurve.keyframe_points.foreach_get("select_control_point", select)
            frames.append(co[0::2])
            chosen.append(co[0::2][select])
        selected = editing.selected_span(np.concatenate(chosen or [[]]), np.concatenate(frames or [[]]))
    return editing.choose_range(preview, selected, (settings.range_start, settings.range_end))


def read_context(context, obj, binding, first: int, last: int) -> np.ndarray:
    """Joint positions [T, 22, 3] at 20 fps of the rig as it plays scene frames first..last."""
    scene = context.scene
    current = scene.frame_current, scene.frame_subframe
    bones = [obj.pose.bones[name] for name in binding.mapped_bone_names]
    matrices = np.empty((last - first + 1, len(bones), 4, 4))
    try:
        for row, frame in enumerate(range(first, last + 1)):
            scene.frame_set(frame)
            matrices[row] = [np.array(bone.matrix) for bone in bones]
    finally:
        scene.frame_set(current[0], subframe=current[1])
    return resample.resample_locations(readback.read_back(binding, matrices), scene_fps(scene), 20.0)


def _readback_binding(obj, mapping):
    return retarget.bind(rig_from_object(obj), mapping, JOINT_NAMES, PARENTS, DEFAULT_REST_OFFSETS)


def _use_quaternions(obj, keys) -> None:
    """Switch keyed bones to quaternion rotation, holding their pose, where that changes nothing
    outside the range: their Euler or axis-angle rotation must not be animated."""
    other = action_writer.non_quaternion_bones(obj, keys.bone_names)
    fcurves = action_writer.assigned_fcurves(obj)
    animated = {fcurve.data_path for fcurve in fcurves}
    keyed = [name for name in other if {action_writer.bone_path(name, "rotation_euler"),
                                        action_writer.bone_path(name, "rotation_axis_angle")} & animated]
    if keyed:
        raise ValueError(f"Bones {', '.join(keyed)} have keyed Euler or axis-angle rotations; regenerating part "
                         f"of the action needs quaternion rotation on them (switch and re-key them first)")
    if other and not session.preferences().allow_rotation_mode_change:
        raise ValueError(f"Bones {', '.join(other)} do not use quaternion rotation; set their rotation mode to "
                         f"Quaternion, or allow switching it in the MoScale preferences")
    for name in other:
        bone = obj.pose.bones[name]
        rotation = bone.matrix_basis.to_3x3().normalized().to_quaternion()
        bone.rotation_mode = 'QUATERNION'
        bone.rotation_quaternion = rotation


def _old_values(obj, fcurves, columns, frame: int) -> np.ndarray:
    """The values the action (or, without an F-curve, the pose) has for the columns at a frame."""
    by_channel = {(fcurve.data_path, fcurve.array_index): fcurve for fcurve in fcurves}
    values = []
    for bone, prop, index in columns:
        fcurve = by_channel.get((action_writer.bone_path(bone, prop), index))
        values.append(fcurve.evaluate(frame) if fcurve is not None else getattr(obj.pose.bones[bone], prop)[index])
    return np.array(values)


def _write(obj, keys, frames, values, first: float, last: float, holds) -> None:
    """Replace the keys from `first` to `last` on every keyed channel. A channel that had no
    F-curve gets its old value keyed at the `holds` frames ((frame, values [C]) pairs next to the
    new keys) too, so that the pose outside the new keys stays as it was."""
    ensure = action_writer.fcurve_maker(obj)
    for column, (bone, prop, index) in enumerate(editing.channels(keys)):
        fcurve, created = ensure(action_writer.bone_path(bone, prop), index, bone)
        if created:
            column_frames = np.concatenate([frames, [frame for frame, _ in holds]])
            column_values = np.concatenate([values[:, column], [old[column] for _, old in holds]])
            action_writer.replace_keys(fcurve, column_frames, column_values, column_frames.min(), column_frames.max())
        else:
            action_writer.replace_keys(fcurve, frames, values[:, column], first, last)


def _retargeted(plan, motion):
    """(the armature, the motion's keys on it), or ValueError when the armature or its action
    changed while the backend worked or its bones cannot take the keys."""
    obj = bpy.data.objects.get(plan.target)
    if obj is None or obj.animation_data is None or obj.animation_data.action is None \
            or obj.animation_data.action.name != plan.action:
        raise ValueError(f"'{plan.target}' or its action '{plan.action}' changed while the backend worked; "
                         f"nothing was written")
    arrays = motion.to_numpy()
    binding = retarget.bind(rig_from_object(obj), plan.mapping, motion.joint_names, motion.parents,
                            arrays["rest_offsets"])
    keys = retarget.retarget(binding, arrays["rotations"], arrays["root_translation"], in_place=plan.in_place)
    _use_quaternions(obj, keys)
    return obj, keys


@dataclass(frozen=True, eq=False)
class RangePlan:
    """A regenerate as the UI asked for it, with the context already read back."""

    target: str
    action: str           # the action's name (it survives undo, a reference does not)
    mapping: dict
    request: EditRequest
    frame_range: editing.FrameRange
    window_first: int     # scene frame of the context's first motion frame
    blend: int            # scene frames
    in_place: bool
    new_seed: bool        # write the random seed back to the settings once the keys are written
    operation = "Regenerate"  # for the report when cancelled

    def apply(self, context, motions) -> str:
        """Replace the range's keys with the returned motion; the report line."""
        obj, keys = _retargeted(self, motions[0])
        first, last = self.frame_range.first, self.frame_range.last
        fcurves = action_writer.assigned_fcurves(obj)
        columns = editing.channels(keys)
        before, after = (_old_values(obj, fcurves, columns, frame) for frame in (first - 1, last + 1))
        frames = np.arange(first, last + 1, dtype=np.float64)
        values = editing.plan_keys(keys, frames, self.window_first, scene_fps(context.scene), before, after,
                                   self.blend)
        _write(obj, keys, frames, values, first, last, [(first - 1, before), (last + 1, after)])
        return (f"Regenerated frames {first}-{last} of '{self.action}' on {obj.name} "
                f"({self.frame_range.source}), seed {self.request.seed}")


def plan_regenerate(context) -> RangePlan:
    """Read the animation around the range back as context; ValueError with what to change."""
    scene, settings = context.scene, context.scene.moscale
    obj, action = animated_armature(context)
    frame_range = scene_range(context)
    if frame_range.last <= frame_range.first:
        raise ValueError(f"The range {frame_range.first}-{frame_range.last} ({frame_range.source}) is empty")
    prompt = (settings.range_prompt.strip() or action.get(action_writer.PROMPT_PROPERTY, "")
              or settings.prompt.strip())
    if not prompt:
        raise ValueError("Type a prompt for the range first")
    mapping = settings.mapping(obj)
    fps = scene_fps(scene)
    first, last = editing.context_window(frame_range, action.frame_range, fps)
    positions = read_context(context, obj, _readback_binding(obj, mapping), first, last)
    start, end = editing.edit_span(frame_range, first, len(positions), fps)
    blend = settings.seam_frames
    seed = random.randrange(2 ** 31) if settings.randomize_seed else settings.seed
    request = EditRequest(prompt, positions.astype(np.float32), start, end, editing.motion_blend(blend, fps),
                          seed, settings.guidance)
    return RangePlan(target=obj.name, action=action.name, mapping=mapping, request=request, frame_range=frame_range,
                     window_first=first, blend=blend, in_place=settings.root_motion == 'IN_PLACE',
                     new_seed=settings.randomize_seed)


@dataclass(frozen=True, eq=False)
class ExtendPlan:
    """An extend as the UI asked for it, with the context already read back."""

    target: str
    action: str
    mapping: dict
    request: ExtendRequest
    join: int             # the last kept scene frame
    count: int            # new scene frames after it
    window_first: int
    blend: int
    in_place: bool
    new_seed: bool
    operation = "Extend"

    def apply(self, context, motions) -> str:
        """Key the continuation after the join, replacing any keys there; the report line."""
        obj, keys = _retargeted(self, motions[0])
        fcurves = action_writer.assigned_fcurves(obj)
        before = _old_values(obj, fcurves, editing.channels(keys), self.join)
        frames = np.arange(self.join + 1, self.join + 1 + self.count, dtype=np.float64)
        values = editing.plan_keys(keys, frames, self.window_first, scene_fps(context.scene), before, None,
                                   self.blend)
        _write(obj, keys, frames, values, np.nextafter(self.join, np.inf), np.inf, [(self.join, before)])
        return (f"Extended '{self.action}' on {obj.name} by frames {self.join + 1}-{self.join + self.count}, "
                f"seed {self.request.seed}")


def plan_extend(context) -> ExtendPlan:
    """Read the animation before the join back as context; ValueError with what to change."""
    scene, settings = context.scene, context.scene.moscale
    obj, action = animated_armature(context)
    join = round(action.frame_range[1]) if settings.extend_from_last_key else settings.extend_frame
    if not settings.prompt.strip():
        raise ValueError("Type a prompt first")
    if settings.extend_seconds <= 0:
        raise ValueError("Extend by more than 0 seconds")
    mapping = settings.mapping(obj)
    fps = scene_fps(scene)
    first = editing.extend_window(join, action.frame_range[0], fps)
    positions = read_context(context, obj, _readback_binding(obj, mapping), first, join)
    count = round(settings.extend_seconds * fps)
    needed = math.ceil(float(editing.motion_position(join + count, first, fps))) + 1 - len(positions)
    seed = random.randrange(2 ** 31) if settings.randomize_seed else settings.seed
    request = ExtendRequest(settings.prompt.strip(), positions.astype(np.float32), editing.extend_frames(needed),
                            seed, settings.guidance)
    return ExtendPlan(target=obj.name, action=action.name, mapping=mapping, request=request, join=join, count=count,
                      window_first=first, blend=settings.seam_frames, in_place=settings.root_motion == 'IN_PLACE',
                      new_seed=settings.randomize_seed)
