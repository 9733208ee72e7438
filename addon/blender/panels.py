"""The "MoScale" tab of the 3D View sidebar."""

import bpy

from .. import bone_maps
from . import range_edit, session, takes


class MOSCALE_UL_overrides(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname):
        obj = context.scene.moscale.target_object(context)
        row = layout.row(align=True)
        row.prop(item, "joint", text="")
        if obj is not None:
            row.prop_search(item, "bone", obj.data, "bones", text="")
        else:
            row.prop(item, "bone", text="")


class VIEW3D_PT_moscale(bpy.types.Panel):
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MoScale"
    bl_label = "MoScale"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.moscale
        layout.prop(settings, "prompt", text="")

        column = layout.column(align=True)
        row = column.row(align=True)
        row.enabled = not settings.fit_scene_range
        row.prop(settings, "seconds")
        column.prop(settings, "fit_scene_range")
        layout.prop(settings, "takes")
        row = layout.row(align=True)
        row.prop(settings, "seed")
        row.prop(settings, "randomize_seed", text="", icon='FILE_REFRESH')
        layout.prop(settings, "guidance")

        layout.prop(settings, "target")
        if settings.target_object(context) is None:
            layout.operator("moscale.armature_add", icon='ARMATURE_DATA')
        layout.row().prop(settings, "root_motion", expand=True)
        row = layout.row(align=True)
        row.prop(settings, "use_current_frame", text="", icon='TIME')
        sub = row.row(align=True)
        sub.enabled = not settings.use_current_frame
        sub.prop(settings, "start_frame")

        obj = settings.target_object(context)
        take_count = len(takes.take_tracks(obj))
        if take_count:
            playing = takes.selected_take(obj)
            row = layout.row(align=True)
            for number in range(1, take_count + 1):
                row.operator("moscale.select_take", text=str(number), depress=number == playing).take = number
            row.operator("moscale.keep_take", text="Keep", icon='CHECKMARK')

        task = session.task
        if task is None:
            layout.operator("moscale.generate", icon='ARMATURE_DATA')
            prompts = sum(1 for marker in context.scene.timeline_markers if marker.name.strip())
            if prompts:
                layout.operator("moscale.generate_from_markers", icon='MARKER_HLT',
                                text=f"Generate from {prompts} Prompt Markers")
        else:
            layout.progress(factor=task.fraction, type='BAR', text=task.stage)
            layout.operator("moscale.cancel", icon='CANCEL')


class VIEW3D_PT_moscale_edit(bpy.types.Panel):
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MoScale"
    bl_label = "Edit Action"
    bl_parent_id = "VIEW3D_PT_moscale"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.moscale
        layout.label(text=range_summary(context))
        row = layout.row(align=True)
        row.prop(settings, "range_start")
        row.prop(settings, "range_end")
        layout.prop(settings, "range_prompt", text="", placeholder="The action's prompt")
        layout.prop(settings, "seam_frames")
        layout.operator("moscale.regenerate_range", icon='FILE_REFRESH')
        layout.separator()
        row = layout.row(align=True)
        row.prop(settings, "extend_from_last_key", text="", icon='NEXT_KEYFRAME')
        sub = row.row(align=True)
        sub.enabled = not settings.extend_from_last_key
        sub.prop(settings, "extend_frame")
        layout.prop(settings, "extend_seconds")
        layout.operator("moscale.extend", icon='FORWARD')


def range_summary(context) -> str:
    """Which frames Regenerate Range would take and where from (apart from draw() for tests)."""
    try:
        frame_range = range_edit.scene_range(context)
    except ValueError as exc:
        return str(exc)
    return f"Range {frame_range.first}-{frame_range.last} from the {frame_range.source}"


class VIEW3D_PT_moscale_bone_map(bpy.types.Panel):
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MoScale"
    bl_label = "Bone Map"
    bl_parent_id = "VIEW3D_PT_moscale"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.moscale
        layout.prop(settings, "bone_map_preset")
        obj = settings.target_object(context)
        if obj is not None:
            for text, icon in bone_map_summary(settings, obj):
                layout.label(text=text, icon=icon)
        row = layout.row()
        row.template_list("MOSCALE_UL_overrides", "", settings, "overrides", settings, "override_index", rows=3)
        column = row.column(align=True)
        column.operator("moscale.override_add", text="", icon='ADD')
        column.operator("moscale.override_remove", text="", icon='REMOVE')


def bone_map_summary(settings, obj) -> list[tuple[str, str]]:
    """The Bone Map subpanel's lines, (text, icon): the detected rig, how many joints are mapped
    and which are not, or why the mapping is unusable. Apart from draw() so tests can read them."""
    lines = []
    if settings.bone_map_preset == 'auto':
        detected = bone_maps.detect_preset([bone.name for bone in obj.data.bones])
        lines.append((f"Detected: {bone_maps.PRESETS[detected][0] if detected else 'nothing'}", 'NONE'))
    try:
        mapping = settings.mapping(obj)
    except ValueError as exc:
        return lines + [(str(exc), 'ERROR')]
    lines.append((f"{len(mapping)} of {len(bone_maps.JOINT_NAMES)} joints mapped", 'CHECKMARK'))
    missing = bone_maps.unmapped_joints(mapping)
    if missing:
        lines.append(("Unmapped: " + ", ".join(missing), 'NONE'))
    return lines


class VIEW3D_PT_moscale_backend(bpy.types.Panel):
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MoScale"
    bl_label = "Backend"
    bl_parent_id = "VIEW3D_PT_moscale"

    def draw(self, context):
        layout = self.layout
        backend = session.backend
        layout.label(text=backend.status() if backend is not None else "Not running")
        row = layout.row(align=True)
        row.operator("moscale.backend_start", text="Start", icon='PLAY')
        row.operator("moscale.backend_stop", text="Stop", icon='PAUSE')
        row.operator("moscale.backend_restart", text="Restart", icon='FILE_REFRESH')


CLASSES = (MOSCALE_UL_overrides, VIEW3D_PT_moscale, VIEW3D_PT_moscale_edit, VIEW3D_PT_moscale_bone_map,
           VIEW3D_PT_moscale_backend)
