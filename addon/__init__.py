"""MoScale for Blender: text-to-motion on your own armature.

The modules beside this one that never import bpy (quaternion, axes, bone_maps, rig, retarget,
readback, resample) are plain numpy and unit-tested outside Blender; backend_process and
generation (no bpy either) need the backend sources the built extension carries in `backend/`.
The bpy glue lives in `blender/` and is imported only from register(), so this package imports
cleanly without Blender.
"""


def register():
    from . import blender

    blender.register()


def unregister():
    from . import blender

    blender.unregister()
