"""addon/batch.py: three prompts and two bad items to FBX, GLB and BVH; every file re-imported
alone holds one animation of the right length on the right bones; the manifest; resuming."""

import importlib
import json
import os
import subprocess
import sys

import bpy
import pytest
from blender_env import MODULE, ROOT
from motion_checks import JOINTS

PROMPTS = """prompt,seconds,seed,name
a person walks forward,2,1,walk
"a person jumps, then turns",2.4,2,
a person waves with the right hand,3,3,Wave 01
,3,,empty
a person runs,10000,,run
"""
FPS = 30
# (file stem, prompt, seconds, seed, frames at 30 fps): the model's 20 fps frames times 1.5
GOOD = [("walk", "a person walks forward", 2.0, 1, 60),
        ("a_person_jumps_then_turns", "a person jumps, then turns", 2.4, 2, 72),
        ("Wave 01", "a person waves with the right hand", 3.0, 3, 90)]
OBJECT_TRANSFORMS = ("location", "rotation_euler", "rotation_quaternion", "rotation_axis_angle", "scale")


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text(PROMPTS)
    return path


def run_batch(*arguments) -> int:
    """batch.py's main() inside this Blender, through the installed extension's module."""
    return importlib.import_module(MODULE + ".batch").main([str(argument) for argument in arguments])


def check_manifest(out, file_format: str) -> None:
    document = json.loads((out / "manifest.json").read_text())
    items = document["items"]
    assert [item["status"] for item in items] == ["ok", "ok", "ok", "failed", "failed"]
    for item, (stem, prompt, seconds, seed, _) in zip(items, GOOD):
        assert item == {"line": item["line"], "prompt": prompt, "seed": seed, "seconds": seconds,
                        "file": f"{stem}.{file_format}", "model": item["model"], "status": "ok", "error": None,
                        "format": file_format, "fps": FPS, "rig": None}
        assert item["model"]
    assert items[3]["error"] == "empty prompt"
    assert "too long" in items[4]["error"] and items[4]["file"] == ""  # a failed item claims no name
    assert sorted(path.name for path in out.iterdir()) == sorted(
        ["manifest.json"] + [f"{stem}.{file_format}" for stem, *_ in GOOD])


def all_fcurves(action) -> list:
    if not hasattr(action, "layers"):  # Blender 4.2/4.3: F-curves on the action itself
        return list(action.fcurves)
    return [fcurve for layer in action.layers for strip in layer.strips for bag in strip.channelbags
            for fcurve in bag.fcurves]


def import_alone(path, file_format: str):
    """(armature, its one action) of the file imported into an empty scene at the batch's fps."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = FPS, 1.0
    assert not bpy.data.actions
    if file_format == "fbx":
        bpy.ops.import_scene.fbx(filepath=str(path))
    elif file_format == "glb":
        bpy.ops.import_scene.gltf(filepath=str(path))
    else:
        bpy.ops.import_anim.bvh(filepath=str(path), update_scene_fps=False, update_scene_duration=False)
    armatures = [obj for obj in bpy.context.scene.objects if obj.type == 'ARMATURE']
    assert len(armatures) == 1, [obj.name for obj in bpy.context.scene.objects]
    assert len(bpy.data.actions) == 1, [action.name for action in bpy.data.actions]
    return armatures[0], bpy.data.actions[0]


def check_animation(path, file_format: str, frames: int, bones=JOINTS) -> None:
    """One action of `frames` keyed frames on exactly `bones` (the armature has no other bones)."""
    armature, action = import_alone(path, file_format)
    assert {bone.name for bone in armature.data.bones} == set(bones)
    fcurves = [fcurve for fcurve in all_fcurves(action) if fcurve.data_path.startswith("pose.bones[")]
    # Importers may key the armature object's transform too (FBX bakes it; glTF on 4.2 keys its
    # quaternion): part of the same action, and no second animation as long as the object never moves.
    for fcurve in all_fcurves(action):
        if fcurve not in fcurves:
            assert fcurve.data_path in OBJECT_TRANSFORMS, fcurve.data_path
            assert len({round(key.co[1], 6) for key in fcurve.keyframe_points}) == 1, fcurve.data_path
    assert {fcurve.data_path.split('"')[1] for fcurve in fcurves} == set(bones)
    first, last = action.frame_range
    assert round(last - first) + 1 == frames, (path.name, first, last)
    assert max(len(fcurve.keyframe_points) for fcurve in fcurves) == frames


def test_fbx_and_glb_one_animation_per_file_and_resume(backend, empty_scene, prompts, tmp_path):
    for file_format in ("fbx", "glb"):
        out = tmp_path / file_format
        arguments = ("--prompts", prompts, "--out", out, "--format", file_format, "--fps", FPS)
        assert run_batch(*arguments) == 1  # the two bad items fail, the others do not
        check_manifest(out, file_format)
        written = {path.name: path.stat().st_mtime_ns for path in out.glob(f"*.{file_format}")}
        assert run_batch(*arguments) == 1
        assert {path.name: path.stat().st_mtime_ns for path in out.glob(f"*.{file_format}")} == written
        check_manifest(out, file_format)
        for stem, *_, frames in GOOD:
            check_animation(out / f"{stem}.{file_format}", file_format, frames)


def test_bvh_from_plain_python_against_a_running_backend(backend, prompts, tmp_path):
    """`python addon/batch.py`: the repository's add-on, built and loaded by the script itself."""
    user = {f"BLENDER_USER_{kind}": str(tmp_path / "user" / kind.lower())
            for kind in ("CONFIG", "SCRIPTS", "EXTENSIONS", "DATAFILES")}
    out = tmp_path / "bvh"
    result = subprocess.run([sys.executable, str(ROOT / "addon" / "batch.py"), "--prompts", str(prompts),
                             "--out", str(out), "--format", "bvh", "--fps", str(FPS),
                             "--server", str(backend.connection_path)],
                            env=dict(os.environ, **user), capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[1/5] ok     'a person walks forward' -> walk.bvh" in result.stdout
    assert "[4/5] failed '' -> - (0.0 s): empty prompt" in result.stdout
    assert "3 of 5 items ok (0 already done), 2 failed" in result.stdout
    check_manifest(out, "bvh")
    for stem, *_, frames in GOOD:
        assert f"Frames: {frames}\n" in (out / f"{stem}.bvh").read_text()
        check_animation(out / f"{stem}.bvh", "bvh", frames)


def test_rig_of_a_blend_file_at_its_own_fps(backend, metarig, tmp_path):
    blend, prompts, out = tmp_path / "rig.blend", tmp_path / "prompts.txt", tmp_path / "rig"
    bpy.context.scene.render.fps = 24
    bones = [bone.name for bone in metarig.data.bones]
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    prompts.write_text("a person jumps\n")
    assert run_batch("--blend", blend, "--rig", "metarig", "--prompts", prompts, "--out", out, "--seconds", 2) == 0
    item = json.loads((out / "manifest.json").read_text())["items"][0]
    assert (item["file"], item["rig"], item["fps"], item["seed"]) == ("a_person_jumps.fbx", "metarig", 24, 0)
    armature, action = import_alone(out / "a_person_jumps.fbx", "fbx")
    assert {bone.name for bone in armature.data.bones} == set(bones)
    first, last = action.frame_range
    assert round(last - first) + 1 == 48  # 2 s at the file's 24 fps
