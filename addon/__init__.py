"""MoScale for Blender: text-to-motion on your own armature.

The modules beside this one that never import bpy (quaternion, axes, bone_maps, rig, retarget,
readback, resample) are plain numpy and unit-tested outside Blender; the bpy glue imports them
and is imported only from register(), so this package imports cleanly without Blender.
"""
