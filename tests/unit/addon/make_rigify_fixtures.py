"""Writes the Rigify fixtures of these tests; needs Blender as a module (the `bpy` 5.0.1 wheel).

    python make_rigify_fixtures.py tests/unit/addon

rigify_metarig_rest.json: every bone of the human metarig (name, parent, head, tail, roll,
matrix_local; armature space, metres), so retargeting is tested on a real A-pose-ish rest pose
without bpy. rigify_generated_bone_names.json: the bone names of the rig Rigify generates from it.
"""

import json
import sys

import bpy


def rounded(values, digits=6):
    return [round(float(v), digits) for v in values]


def main(out_dir: str) -> None:
    import addon_utils  # Blender's own module: importable once bpy is loaded

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    metarig = bpy.context.active_object
    bpy.ops.object.mode_set(mode="EDIT")
    rolls = {bone.name: bone.roll for bone in metarig.data.edit_bones}
    bpy.ops.object.mode_set(mode="OBJECT")
    bones = [
        [bone.name, bone.parent.name if bone.parent else None, rounded(bone.head_local),
         rounded(bone.tail_local), round(rolls[bone.name], 6), [rounded(row, 7) for row in bone.matrix_local]]
        for bone in metarig.data.bones
    ]
    version = bpy.app.version_string
    with open(f"{out_dir}/rigify_metarig_rest.json", "w") as file:
        file.write(
            f'{{"source": "Blender {version}, rigify add-on: bpy.ops.object.armature_human_metarig_add(); '
            f'armature space, metres", "fields": ["name", "parent", "head", "tail", "roll", "matrix_local"], '
            f'"bones": [\n'
        )
        file.write(",\n".join(json.dumps(bone) for bone in bones))
        file.write("\n]}\n")

    bpy.ops.pose.rigify_generate()
    rig = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o is not metarig)
    with open(f"{out_dir}/rigify_generated_bone_names.json", "w") as file:
        json.dump({"source": f"Blender {version}: bpy.ops.pose.rigify_generate() on the human metarig",
                   "bone_names": [bone.name for bone in rig.data.bones]}, file)


if __name__ == "__main__":
    main(sys.argv[-1])
