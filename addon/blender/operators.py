"""Operators: generate, regenerate a range, extend (modal in the UI, blocking headless), cancel,
backend start/stop/restart, our armature, bone-map overrides. Each catches the errors it can
explain and reports them, so nothing escapes and nothing is changed when a job fails."""

import random
import threading
from dataclasses import dataclass

import bpy

from .. import markers, retarget
from ..backend.moscale.serving.client import BackendError, JobCancelled
from ..generation import GenerateRequest, GenerationTask, SegmentsRequest
from . import action_writer, range_edit, session, takes
from .armature import add_armature, rig_from_object
from .properties import scene_fps


@dataclass(frozen=True)
class Plan:
    """A generate as the UI asked for it, checked before the backend is asked."""

    target: str          # the armature object's name (it survives undo, a reference does not)
    mapping: dict        # joint -> bone
    request: GenerateRequest
    start_frame: int
    in_place: bool
    new_seed: bool       # write the random seed back to the settings once the action is written

    operation = "Generation"  # for the report when cancelled

    def apply(self, context, motions) -> str:
        """Retarget the backend's motions and write them as a new action, or as takes when there
        are several (addon/blender/takes.py); the report line."""
        obj = bpy.data.objects.get(self.target)
        if obj is None or obj.type != 'ARMATURE':
            raise ValueError(f"The armature '{self.target}' no longer exists")
        keys = [self._keys(obj, motion) for motion in motions]
        switched = action_writer.non_quaternion_bones(obj, keys[0].bone_names)
        if switched and not session.preferences().allow_rotation_mode_change:
            raise ValueError(f"Bones {', '.join(switched)} do not use quaternion rotation; set their rotation mode to "
                             f"Quaternion, or allow switching it in the MoScale preferences")
        fps, prompt = motions[0].fps, self.request.prompt
        if len(motions) == 1:
            action = action_writer.write_action(obj, keys[0], prompt, self.start_frame, fps, scene_fps(context.scene))
            what = f"'{action.name}'"
        else:
            built = [action_writer.build_action(obj, take_keys, f"{prompt} (take {number})", prompt, self.start_frame,
                                                fps, scene_fps(context.scene))
                     for number, take_keys in enumerate(keys, start=1)]
            takes.write_takes(obj, built, self.start_frame)
            action = built[0][0]
            what = f"{len(built)} takes of '{prompt}' (take 1 plays)"
        for name in switched:
            obj.pose.bones[name].rotation_mode = 'QUATERNION'
        session.last_motion = motions[0]
        first, last = action.frame_range
        note = f"; switched {len(switched)} bones to quaternion rotation" if switched else ""
        return (f"{what} on {obj.name}: frames {first:g}-{last:g}, {len(keys[0].bone_names)} bones, "
                f"seed {self.request.seed}{note}")

    def _keys(self, obj, motion):
        arrays = motion.to_numpy()
        binding = retarget.bind(rig_from_object(obj), self.mapping, motion.joint_names, motion.parents,
                                arrays["rest_offsets"])
        return retarget.retarget(binding, arrays["rotations"], arrays["root_translation"], in_place=self.in_place)


def plan_generation(context) -> Plan:
    """Raises ValueError (BoneMapError is one) with what the user should change."""
    settings = context.scene.moscale
    obj = settings.keyable_target(
        context, "No armature to animate: select one, set MoScale > Armature, or add the MoScale armature")
    if not settings.prompt.strip():
        raise ValueError("Type a prompt first")
    seconds = settings.duration(context)
    if seconds <= 0:
        raise ValueError(f"The duration is {seconds:g} s; it must be longer than 0 s (the model's shortest is 2 s)")
    seed = random.randrange(2 ** 31) if settings.randomize_seed else settings.seed
    return Plan(target=obj.name, mapping=settings.mapping(obj),
                request=GenerateRequest(settings.prompt.strip(), seconds, seed, settings.guidance, settings.takes),
                start_frame=settings.first_frame(context), in_place=settings.root_motion == 'IN_PLACE',
                new_seed=settings.randomize_seed)


def plan_from_markers(context) -> Plan:
    """Generate over the timeline's prompt markers: one motion, each prompt over its span."""
    settings, scene = context.scene.moscale, context.scene
    obj = settings.keyable_target(
        context, "No armature to animate: select one, set MoScale > Armature, or add the MoScale armature")
    fps = scene_fps(scene)
    spans = markers.prompt_spans([(m.frame, m.name) for m in scene.timeline_markers], scene.frame_end, fps)
    seed = random.randrange(2 ** 31) if settings.randomize_seed else settings.seed
    request = SegmentsRequest(tuple((span.prompt, span.seconds(fps)) for span in spans), seed, settings.guidance)
    return Plan(target=obj.name, mapping=settings.mapping(obj), request=request, start_frame=spans[0].first,
                in_place=settings.root_motion == 'IN_PLACE', new_seed=settings.randomize_seed)


def redraw_sidebars() -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == 'VIEW_3D':
                area.tag_redraw()


class GenerateRun:
    """One backend job from its plan to the written keys, whichever way it is driven: the modal
    operator feeds it its events (`tick`), a blocking caller waits and then calls `finish`. A plan
    has the `request` to send and `apply(context, motion)`, which writes and says what it did."""

    def __init__(self, plan: Plan, report):
        self.plan, self.report = plan, report  # report: Operator.report, (type set, message)
        self.task = GenerationTask(session.get_backend(), session.backend_settings(), plan.request).start()
        session.task = self.task

    def tick(self, context, event_type: str) -> set:
        """One event of the modal operator: Esc cancels; a timer tick takes the worker's news and,
        once it is done, writes the action (or reports why not) and ends the run."""
        if event_type == 'ESC':
            self.task.cancel()
            return {'RUNNING_MODAL'}
        if event_type != 'TIMER':
            return {'PASS_THROUGH'}
        redraw_sidebars()
        if not self.task.poll():
            return {'PASS_THROUGH'}
        return self.finish(context)

    def finish(self, context) -> set:
        """Write the motion of the finished task; nothing changes if it failed or was cancelled."""
        session.task = None
        task = self.task
        if task.cancelled or isinstance(task.error, JobCancelled):
            self.report({'WARNING'}, f"{self.plan.operation} cancelled; nothing was changed")
            return {'CANCELLED'}
        if task.error is not None:
            return report_failure(self.report, task.error)
        try:
            message = self.plan.apply(context, task.motions)
        except Exception as exc:  # the boundary: report, never raise into Blender (the new action is removed)
            return report_failure(self.report, exc)
        if self.plan.new_seed:
            context.scene.moscale.seed = self.plan.request.seed
        self.report({'INFO'}, message)
        return {'FINISHED'}


def report_failure(report, error) -> set:
    report({'ERROR'}, str(error))
    return {'CANCELLED'}


class BackendJobOperator:
    """What generate, regenerate range and extend share: `make_plan(context)` (ValueError when the
    settings cannot work), then blocking in `execute` (scripts, headless) or modal in the UI."""

    make_plan = None  # staticmethod(context) -> a plan, set by each operator

    @classmethod
    def poll(cls, context):
        return session.task is None

    def execute(self, context):
        """Blocking: headless runs and scripts get the keys (or an error) when this returns."""
        try:
            run = GenerateRun(self.make_plan(context), self.report)
        except ValueError as exc:
            return report_failure(self.report, exc)
        run.task.wait()
        return run.finish(context)

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        try:
            self._run = GenerateRun(self.make_plan(context), self.report)
        except ValueError as exc:
            return report_failure(self.report, exc)
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        result = self._run.tick(context, event.type)
        if not result & {'RUNNING_MODAL', 'PASS_THROUGH'}:
            context.window_manager.event_timer_remove(self._timer)
        return result

    def cancel(self, context):
        """Blender ends the modal operator (the window closes): stop the backend job too."""
        context.window_manager.event_timer_remove(self._timer)
        self._run.task.cancel()
        session.task = None


class MOSCALE_OT_generate(BackendJobOperator, bpy.types.Operator):
    """Generate a motion from the prompt and key it on the armature as a new action"""

    bl_idname = "moscale.generate"
    bl_label = "Generate"
    bl_options = {'REGISTER', 'UNDO'}
    make_plan = staticmethod(plan_generation)


class MOSCALE_OT_regenerate_range(BackendJobOperator, bpy.types.Operator):
    """Regenerate a frame range of the active action (preview range, selected keys, or Start/End),
    blended into the keys around it; keys outside the range stay as they are"""

    bl_idname = "moscale.regenerate_range"
    bl_label = "Regenerate Range"
    bl_options = {'REGISTER', 'UNDO'}
    make_plan = staticmethod(range_edit.plan_regenerate)


class MOSCALE_OT_extend(BackendJobOperator, bpy.types.Operator):
    """Continue the active action after its last key (or Extend Frame) with the prompt"""

    bl_idname = "moscale.extend"
    bl_label = "Extend"
    bl_options = {'REGISTER', 'UNDO'}
    make_plan = staticmethod(range_edit.plan_extend)


class MOSCALE_OT_generate_from_markers(BackendJobOperator, bpy.types.Operator):
    """Generate one motion over the timeline's markers: each marker's name is the prompt from its
    frame to the next marker (the last one to the scene's end)"""

    bl_idname = "moscale.generate_from_markers"
    bl_label = "Generate from Markers"
    bl_options = {'REGISTER', 'UNDO'}
    make_plan = staticmethod(plan_from_markers)


def _armature_with_takes(context):
    obj = context.scene.moscale.target_object(context)
    if obj is None or not takes.take_tracks(obj):
        return None
    return obj


class MOSCALE_OT_select_take(bpy.types.Operator):
    """Play this take (the other takes' NLA tracks are muted)"""

    bl_idname = "moscale.select_take"
    bl_label = "Select Take"
    bl_options = {'REGISTER', 'UNDO'}

    take: bpy.props.IntProperty(name="Take", min=1, default=1)

    @classmethod
    def poll(cls, context):
        return _armature_with_takes(context) is not None

    def execute(self, context):
        try:
            takes.select_take(_armature_with_takes(context), self.take)
        except ValueError as exc:
            return report_failure(self.report, exc)
        return {'FINISHED'}


class MOSCALE_OT_keep_take(bpy.types.Operator):
    """Make the playing take the armature's action and remove the other takes"""

    bl_idname = "moscale.keep_take"
    bl_label = "Keep Take"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        return _armature_with_takes(context) is not None

    def execute(self, context):
        obj = _armature_with_takes(context)
        try:
            action = takes.keep_take(obj, takes.selected_take(obj))
        except ValueError as exc:
            return report_failure(self.report, exc)
        self.report({'INFO'}, f"Kept '{action.name}' on {obj.name}")
        return {'FINISHED'}


class MOSCALE_OT_cancel(bpy.types.Operator):
    """Cancel the generation in progress (Esc does the same)"""

    bl_idname = "moscale.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return session.task is not None

    def execute(self, context):
        session.task.cancel()
        return {'FINISHED'}


def _redraw_while_starting():
    """Timer: keep the status line fresh while a backend starts in the background."""
    redraw_sidebars()
    backend = session.backend
    return 0.5 if backend is not None and backend.running and backend.client is None else None


def _start_backend(operator) -> set:
    """Start (LOCAL) or connect (CONNECT): blocking headless, on a thread in the UI."""
    backend, settings = session.get_backend(), session.backend_settings()
    if not bpy.app.background:
        def start():
            try:
                backend.ensure_client(settings)
            except BackendError as exc:
                backend.exit_note = exc.message
        threading.Thread(target=start, name="moscale-backend-start", daemon=True).start()
        bpy.app.timers.register(_redraw_while_starting, first_interval=0.5)
        return {'FINISHED'}
    try:
        backend.ensure_client(settings)
    except BackendError as exc:
        operator.report({'ERROR'}, exc.message)
        return {'CANCELLED'}
    operator.report({'INFO'}, backend.status())
    return {'FINISHED'}


class MOSCALE_OT_backend_start(bpy.types.Operator):
    """Start the local backend, or connect to the running one (see the add-on's preferences)"""

    bl_idname = "moscale.backend_start"
    bl_label = "Start Backend"

    def execute(self, context):
        return _start_backend(self)


class MOSCALE_OT_backend_stop(bpy.types.Operator):
    """Stop the backend the add-on started (or disconnect from a running one)"""

    bl_idname = "moscale.backend_stop"
    bl_label = "Stop Backend"

    @classmethod
    def poll(cls, context):
        return session.task is None

    def execute(self, context):
        session.get_backend().stop()
        return {'FINISHED'}


class MOSCALE_OT_backend_restart(bpy.types.Operator):
    """Stop the backend and start it again (after it died, or to apply changed preferences)"""

    bl_idname = "moscale.backend_restart"
    bl_label = "Restart Backend"

    @classmethod
    def poll(cls, context):
        return session.task is None

    def execute(self, context):
        session.get_backend().stop()
        return _start_backend(self)


class MOSCALE_OT_armature_add(bpy.types.Operator):
    """Add the MoScale 22-joint armature at the 3D cursor"""

    bl_idname = "moscale.armature_add"
    bl_label = "Add MoScale Armature"
    bl_options = {'REGISTER', 'UNDO'}

    skeleton: bpy.props.EnumProperty(
        name="Skeleton",
        items=[('DEFAULT', "Default", "The model's standard proportions"),
               ('LAST_MOTION', "Last Motion", "The skeleton of the last generated motion, which it then plays exactly")])

    @classmethod
    def poll(cls, context):
        return context.mode == 'OBJECT'

    def execute(self, context):
        if self.skeleton == 'LAST_MOTION':
            if session.last_motion is None:
                self.report({'ERROR'}, "No motion generated yet in this session")
                return {'CANCELLED'}
            obj = add_armature(context, session.last_motion.to_numpy()["rest_offsets"])
        else:
            obj = add_armature(context)
        self.report({'INFO'}, f"Added '{obj.name}'")
        return {'FINISHED'}


class MOSCALE_OT_override_add(bpy.types.Operator):
    """Map a joint to a bone of your choice (or to none)"""

    bl_idname = "moscale.override_add"
    bl_label = "Add Bone Override"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        settings = context.scene.moscale
        settings.overrides.add()
        settings.override_index = len(settings.overrides) - 1
        return {'FINISHED'}


class MOSCALE_OT_override_remove(bpy.types.Operator):
    """Remove the selected bone override"""

    bl_idname = "moscale.override_remove"
    bl_label = "Remove Bone Override"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        return len(context.scene.moscale.overrides) > 0

    def execute(self, context):
        settings = context.scene.moscale
        settings.overrides.remove(settings.override_index)
        settings.override_index = max(0, min(settings.override_index, len(settings.overrides) - 1))
        return {'FINISHED'}


CLASSES = (MOSCALE_OT_generate, MOSCALE_OT_regenerate_range, MOSCALE_OT_extend, MOSCALE_OT_generate_from_markers,
           MOSCALE_OT_select_take, MOSCALE_OT_keep_take, MOSCALE_OT_cancel,
           MOSCALE_OT_backend_start, MOSCALE_OT_backend_stop, MOSCALE_OT_backend_restart, MOSCALE_OT_armature_add,
           MOSCALE_OT_override_add, MOSCALE_OT_override_remove)


def unregister() -> None:
    if bpy.app.timers.is_registered(_redraw_while_starting):
        bpy.app.timers.unregister(_redraw_while_starting)
