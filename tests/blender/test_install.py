"""The extension zip installs through Blender's extension system and registers cleanly."""

from pathlib import Path

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


def test_the_backend_writes_to_the_user_folder_not_the_install_folder(addon, backend):
    user_folder = Path(bpy.utils.extension_path_user(MODULE))
    installed = Path(addon.__file__).parent
    for written in (backend.connection_path, backend.log_path):
        assert written.is_file() and written.parent == user_folder and not written.is_relative_to(installed)
