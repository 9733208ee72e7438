"""Armatures: reading a rig's rest pose for retargeting, and building our 22-joint armature."""

import bpy
import numpy as np

from .. import axes
from ..backend.moscale.motion.skeleton import DEFAULT_REST_OFFSETS, JOINT_NAMES, PARENTS
from ..retarget import AIM_CHILD, rest_positions
from ..rig import Rig

LEAF_LENGTH = 0.08  # metres; bones of joints with no child (head, wrists, toes) need some length


def rig_from_object(obj) -> Rig:
    """The armature's rest pose in armature space (what retarget.bind reads)."""
    return Rig.from_bones(obj.name, [
        (bone.name, bone.parent.name if bone.parent else None, tuple(bone.head_local), tuple(bone.tail_local),
         np.array(bone.matrix_local)) for bone in obj.data.bones])


def add_armature(context, rest_offsets=DEFAULT_REST_OFFSETS, name="MoScale"):
    """Our skeleton as an armature standing on the floor at the 3D cursor: one bone per joint, named
    after it, its head at the joint and its tail at the next joint (leaves continue their parent)."""
    standing = rest_positions(PARENTS, rest_offsets)
    standing[:, 1] -= standing[:, 1].min()
    heads = axes.positions_to_blender(standing)
    tails = np.empty_like(heads)
    for joint, joint_name in enumerate(JOINT_NAMES):
        children = [child for child, parent in enumerate(PARENTS) if parent == joint]
        if joint_name in AIM_CHILD:
            tails[joint] = heads[JOINT_NAMES.index(AIM_CHILD[joint_name])]
        elif children:
            tails[joint] = heads[children[0]]
        else:
            along = heads[joint] - heads[PARENTS[joint]]
            tails[joint] = heads[joint] + LEAF_LENGTH * along / np.linalg.norm(along)

    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    obj.location = context.scene.cursor.location
    context.collection.objects.link(obj)
    for other in context.selected_objects:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode='EDIT')  # bones can only be added in edit mode
    for joint, joint_name in enumerate(JOINT_NAMES):
        bone = data.edit_bones.new(joint_name)
        bone.head, bone.tail = heads[joint], tails[joint]
        if PARENTS[joint] >= 0:
            bone.parent = data.edit_bones[JOINT_NAMES[PARENTS[joint]]]
    bpy.ops.object.mode_set(mode='OBJECT')
    return obj
