"""The generate settings of a scene, `scene.moscale` (the scripting surface, saved with the file)."""

import bpy

from .. import bone_maps


def scene_fps(scene) -> float:
    """The scene's frame rate, fps_base included (23.976 is 24 / 1.001)."""
    return scene.render.fps / scene.render.fps_base


def _is_armature(self, obj) -> bool:
    return obj.type == 'ARMATURE'


class MoScaleBoneOverride(bpy.types.PropertyGroup):
    joint: bpy.props.EnumProperty(name="Joint", items=[(joint, joint, "") for joint in bone_maps.JOINT_NAMES])
    bone: bpy.props.StringProperty(name="Bone", description="The rig's bone for this joint; empty: leave it unmapped")


class MoScaleSettings(bpy.types.PropertyGroup):
    prompt: bpy.props.StringProperty(name="Prompt", default="a person walks forward, then waves with the right hand")
    seconds: bpy.props.FloatProperty(name="Seconds", default=4.0, min=0.0, soft_min=2.0, max=600.0,
                                     description="Length of the motion")
    fit_scene_range: bpy.props.BoolProperty(name="Fit Scene Range",
                                            description="Last until the scene's end frame, from the start frame")
    seed: bpy.props.IntProperty(name="Seed", min=0, description="Same prompt and seed: same motion")
    takes: bpy.props.IntProperty(name="Takes", default=1, min=1, max=8,
                                 description="Variations generated at once (seeds Seed, Seed + 1, ...), each on "
                                             "its own NLA track; pick one and Keep it")
    randomize_seed: bpy.props.BoolProperty(name="Random Seed",
                                           description="A new seed for every generate (written back to Seed)")
    guidance: bpy.props.FloatProperty(name="Guidance", default=5.0, min=0.0, soft_max=10.0, max=50.0,
                                      description="How closely the motion follows the prompt (0: not at all)")
    target: bpy.props.PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature,
                                      description="The armature to animate; empty: the active object")
    bone_map_preset: bpy.props.EnumProperty(
        name="Bone Map",
        items=[('auto', "Automatic", "Detect the rig's kind from its bone names")]
        + [(key, label, "") for key, (label, _) in bone_maps.PRESETS.items()])
    overrides: bpy.props.CollectionProperty(type=MoScaleBoneOverride)
    override_index: bpy.props.IntProperty()
    root_motion: bpy.props.EnumProperty(
        name="Root Motion",
        items=[('KEEP', "Keep", "The character travels as in the motion"),
               ('IN_PLACE', "In Place", "Drop the horizontal root motion")])
    use_current_frame: bpy.props.BoolProperty(name="From Current Frame", default=True,
                                              description="Key from the current frame instead of Start Frame")
    start_frame: bpy.props.IntProperty(name="Start Frame", default=1)
    range_start: bpy.props.IntProperty(
        name="Start", default=1, description="First frame to regenerate (without a preview range or selected keys)")
    range_end: bpy.props.IntProperty(
        name="End", default=24, description="Last frame to regenerate (without a preview range or selected keys)")
    range_prompt: bpy.props.StringProperty(name="Range Prompt",
                                           description="Prompt for the range; empty: the action's own prompt")
    seam_frames: bpy.props.IntProperty(
        name="Seam Frames", default=8, min=1, max=64,
        description="Frames inside the range over which it blends into the keys around it")
    extend_seconds: bpy.props.FloatProperty(name="Extend Seconds", default=2.0, min=0.0, soft_min=0.5, max=600.0,
                                            description="How long the continuation lasts")
    extend_from_last_key: bpy.props.BoolProperty(
        name="From Last Key", default=True, description="Continue after the action's last key instead of Extend Frame")
    extend_frame: bpy.props.IntProperty(name="Extend Frame", default=1,
                                        description="Continue after this frame (keys after it are replaced)")

    def target_object(self, context):
        """The armature to animate: `target`, else the active object if it is an armature."""
        if self.target is not None:
            return self.target
        active = context.active_object
        return active if active is not None and active.type == 'ARMATURE' else None

    def keyable_target(self, context, missing: str):
        """target_object, if keys can be written to it now; else ValueError (`missing` when there is none)."""
        obj = self.target_object(context)
        if obj is None:
            raise ValueError(missing)
        if obj.mode == 'EDIT':
            raise ValueError(f"'{obj.name}' is in Edit Mode; switch to Object or Pose Mode first")
        if obj.animation_data is not None and obj.animation_data.use_tweak_mode:
            raise ValueError(f"'{obj.name}' is in NLA tweak mode; leave it first")
        return obj

    def first_frame(self, context) -> int:
        return context.scene.frame_current if self.use_current_frame else self.start_frame

    def duration(self, context) -> float:
        """Seconds to generate; with Fit Scene Range, up to the scene's end frame."""
        if not self.fit_scene_range:
            return self.seconds
        scene = context.scene
        return (scene.frame_end - self.first_frame(context) + 1) / scene_fps(scene)

    def mapping(self, obj) -> dict:
        """joint -> bone for `obj` from the preset and the overrides (BoneMapError if unusable)."""
        bone_names = [bone.name for bone in obj.data.bones]
        overrides = {item.joint: item.bone for item in self.overrides}
        mapping = bone_maps.build_mapping(bone_names, self.bone_map_preset, overrides)
        bone_maps.check_mapping(mapping, obj.name)
        return mapping
