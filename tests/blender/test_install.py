"""The extension zip installs through Blender's extension system and registers cleanly."""

import bpy
from conftest import MODULE


def test_installed_and_enabled(addon):
    assert MODULE in bpy.context.preferences.addons
    assert hasattr(bpy.types.Scene, "moscale")
    assert hasattr(bpy.ops.moscale, "generate")


def test_disable_then_enable(addon):
    assert bpy.ops.preferences.addon_disable(module=MODULE) == {'FINISHED'}
    assert MODULE not in bpy.context.preferences.addons
    assert not hasattr(bpy.types.Scene, "moscale")
    assert bpy.ops.preferences.addon_enable(module=MODULE) == {'FINISHED'}
    assert MODULE in bpy.context.preferences.addons
    bpy.ops.wm.read_homefile(use_empty=True)
    assert bpy.context.scene.moscale.seconds == 4.0
