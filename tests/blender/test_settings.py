"""Panel settings that change what a generate writes: Fit Scene Range, bone-map overrides, the
random seed, and the report of bones switched to quaternion rotation; the Bone Map panel's lines."""

import sys

import bpy
from conftest import MODULE, action_fcurves, preferences


def keyed_bones(obj) -> set[str]:
    return {fcurve.data_path.split('"')[1] for fcurve in action_fcurves(obj)}


def test_fit_scene_range_keys_up_to_the_end_frame(backend, empty_scene):
    scene = empty_scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.frame_start, scene.frame_end, scene.frame_current = 1, 72, 1
    assert bpy.ops.moscale.armature_add() == {'FINISHED'}
    settings = scene.moscale
    settings.seconds, settings.fit_scene_range = 9.0, True
    assert settings.duration(bpy.context) == 3.0  # frames 1-72 at 24 fps, not Seconds
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    assert tuple(bpy.context.active_object.animation_data.action.frame_range) == (1, 72)
    assert (scene.frame_start, scene.frame_end) == (1, 72)


def test_overrides_remap_and_unmap_joints(backend, metarig):
    settings = bpy.context.scene.moscale
    for joint, bone in (("head", "spine.005"), ("left_wrist", "")):  # upper neck for the head; no left hand
        assert bpy.ops.moscale.override_add() == {'FINISHED'}
        settings.overrides[-1].joint, settings.overrides[-1].bone = joint, bone
    mapping = settings.mapping(metarig)
    assert mapping["head"] == "spine.005" and "left_wrist" not in mapping and mapping["right_wrist"] == "hand.R"
    settings.seconds = 2.0
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    bones = keyed_bones(metarig)
    assert {"spine.005", "hand.R"} <= bones and not {"spine.006", "hand.L"} & bones
    settings.override_index = 1
    assert bpy.ops.moscale.override_remove() == {'FINISHED'}
    assert [item.joint for item in settings.overrides] == ["head"]


def test_switched_rotation_modes_are_reported(backend, metarig, capfd):
    preferences().allow_rotation_mode_change = True
    euler = {bone.name for bone in metarig.pose.bones if bone.rotation_mode != 'QUATERNION'}
    bpy.context.scene.moscale.seconds = 2.0
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    switched = euler & keyed_bones(metarig)
    assert switched and all(metarig.pose.bones[name].rotation_mode == 'QUATERNION' for name in switched)
    assert f"switched {len(switched)} bones to quaternion rotation" in capfd.readouterr().out


def test_a_random_seed_is_written_back(backend, empty_scene, capfd):
    assert bpy.ops.moscale.armature_add() == {'FINISHED'}
    settings = empty_scene.moscale
    settings.seconds, settings.seed, settings.randomize_seed = 2.0, 0, True
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    assert settings.seed != 0 and f"seed {settings.seed}" in capfd.readouterr().out


def test_bone_map_panel_lines(metarig):
    summary = sys.modules[MODULE + ".blender.panels"].bone_map_summary
    settings = bpy.context.scene.moscale
    assert summary(settings, metarig) == [("Detected: Rigify human metarig", 'NONE'),
                                          ("22 of 22 joints mapped", 'CHECKMARK')]
    assert bpy.ops.moscale.override_add() == {'FINISHED'}
    settings.overrides[0].joint, settings.overrides[0].bone = "head", ""
    assert summary(settings, metarig)[1:] == [("21 of 22 joints mapped", 'CHECKMARK'), ("Unmapped: head", 'NONE')]
    settings.overrides[0].bone = "no such bone"
    assert summary(settings, metarig)[1] == ("Bone 'no such bone' (mapped to head) is not in the rig", 'ERROR')
