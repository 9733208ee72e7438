"""Headless batch export: one FBX, glTF (.glb) or BVH file per prompt of a prompts file.

    blender -b [rig.blend] --factory-startup --python-exit-code 1 -P <moscale>/batch.py -- --prompts FILE --out DIR
    python <moscale>/batch.py --prompts FILE --out DIR          (Blender as a Python module, the bpy wheel)

The batch drives the add-on's own operators (backend start/stop, our armature, generate), so each
file holds exactly what the panel would have made. Which add-on: an enabled MoScale extension if
there is one; else the extension this file belongs to (installed, or the zip unpacked into a folder
named `moscale`: blender_manifest.toml beside this file); else, in the repository checkout
(addon/batch.py with build.py one folder up), the extension that build.py makes, built into a
temporary folder. One this script enables is loaded from a temporary extension repository when its
folder is not in one, and disabled again at the end.

Prompt files, names, manifest.json and resuming are those of `moscale batch` (batch_files in the
bundled backend). The script never saves the .blend: it changes the scene freely (fps, frame range,
the armature's animation) to export each action alone.
"""

import argparse
import contextlib
import importlib
import importlib.util
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import bpy

HERE = Path(__file__).resolve().parent
EXTENSION_ID = "moscale"
TEMPORARY_REPOSITORY = "moscale_batch"


class BatchError(Exception):
    """The batch cannot run (no add-on, no rig, no backend); the message says what to change."""


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="batch.py", description="Generate one animation file per prompt.")
    parser.add_argument("--prompts", type=Path, required=True,
                        help=".txt (a prompt a line), .jsonl or .csv (prompt, seconds, seed, name)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder (with manifest.json; an earlier run there is resumed)")
    parser.add_argument("--rig", metavar="OBJECT", help="armature of the open .blend to animate (default: ours)")
    parser.add_argument("--format", default="fbx", choices=["fbx", "glb", "bvh"])
    parser.add_argument("--fps", type=int, help="the files' frame rate (default: the scene's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first item without one; then +1 per item")
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of items without their own")
    parser.add_argument("--server", type=Path, metavar="CONNECTION_FILE",
                        help="use this running backend (`moscale serve`) instead of starting one")
    parser.add_argument("--python", help="Python that runs the backend (default: the add-on's preference, "
                                         "else $MOSCALE_PYTHON, else the Python of the `moscale` command on "
                                         "PATH, else python3)")
    parser.add_argument("--blend", type=Path, help="open this .blend first (the bpy wheel has no file argument)")
    args = parser.parse_args(argv)
    if args.fps is not None and args.fps < 1:
        parser.error("--fps must be at least 1")
    return args


# ----------------------------------------------------------------------------- the add-on
@contextlib.contextmanager
def moscale_addon():
    """The package name of an enabled MoScale extension (see the module docstring for which)."""
    enabled = [name for name in bpy.context.preferences.addons.keys()
               if name.startswith("bl_ext.") and name.rpartition(".")[2] == EXTENSION_ID]
    if enabled:
        yield enabled[0]
        return
    with tempfile.TemporaryDirectory(prefix="moscale-batch-") as scratch:
        folder = HERE if (HERE / "blender_manifest.toml").is_file() else build_extension(Path(scratch))
        repositories = bpy.context.preferences.extensions.repos
        repository = next((repo.module for repo in repositories
                           if repo.enabled and Path(repo.directory).resolve() == folder.parent.resolve()), None)
        added = repository is None
        if added:
            repository = repositories.new(name="MoScale batch", module=TEMPORARY_REPOSITORY,
                                          custom_directory=str(folder.parent), source='USER').module
        module = f"bl_ext.{repository}.{folder.name}"
        try:
            try:
                bpy.ops.preferences.addon_enable(module=module)
            except RuntimeError as exc:
                raise BatchError(f"Cannot enable the MoScale extension in {folder} as {module}: {exc}") from None
            if module not in bpy.context.preferences.addons:
                raise BatchError(f"Cannot enable the MoScale extension in {folder} as {module} (see above)")
            yield module
        finally:  # removing a repository disables its add-ons
            if added:
                repositories.remove(next(repo for repo in repositories if repo.module == repository))
            else:
                bpy.ops.preferences.addon_disable(module=module)


def build_extension(scratch: Path) -> Path:
    """The repository checkout's extension, built by its build.py and unpacked into `scratch`."""
    build_script = HERE.parent / "build.py"
    if not build_script.is_file():
        raise BatchError(f"{HERE} is neither a MoScale extension (no blender_manifest.toml) nor the add-on folder "
                         f"of a MoScale checkout (no {build_script}); install the extension and run its batch.py")
    spec = importlib.util.spec_from_file_location("moscale_build", build_script)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    folder = scratch / "extensions" / EXTENSION_ID
    with zipfile.ZipFile(build.build(scratch / "dist", HERE.parent)) as archive:
        archive.extractall(folder)
    return folder


@contextlib.contextmanager
def backend(args, session):
    """A connected backend: `--server`'s, else the add-on's (started if need be and stopped after)."""
    prefs = session.preferences()
    saved = {key: getattr(prefs, key) for key in ("backend_mode", "connect_with", "connection_file", "python")}
    if args.server:
        prefs.backend_mode, prefs.connect_with, prefs.connection_file = 'CONNECT', 'FILE', str(args.server.resolve())
    if args.python:
        prefs.python = args.python
    started = prefs.backend_mode == 'LOCAL' and not session.get_backend().running
    try:
        try:
            bpy.ops.moscale.backend_start()
        except RuntimeError as exc:
            raise BatchError(operator_message(exc)) from None
        yield
    finally:
        if started:
            bpy.ops.moscale.backend_stop()
        elif args.server:
            session.get_backend().disconnect()
        for key, value in saved.items():
            setattr(prefs, key, value)


def operator_message(exc: RuntimeError) -> str:
    """The report of a failed operator, without the "Error: " Blender puts in front."""
    return str(exc).strip().removeprefix("Error: ")


# ----------------------------------------------------------------------------- the scene
def prepare_armature(rig_name):
    """The armature to animate, alone in the selection, with no animation of its own left."""
    if bpy.context.object is not None and bpy.context.object.mode != 'OBJECT':
        bpy.ops.object.mode_set(mode='OBJECT')
    if rig_name is None:
        bpy.ops.moscale.armature_add()
        obj = bpy.context.active_object
    else:
        obj = bpy.data.objects.get(rig_name)
        if obj is None or obj.type != 'ARMATURE':
            armatures = sorted(o.name for o in bpy.data.objects if o.type == 'ARMATURE')
            raise BatchError(f"--rig {rig_name!r} is not an armature of this file (armatures: "
                             f"{', '.join(armatures) or 'none'})")
    for other in bpy.context.view_layer.objects:
        other.select_set(other == obj)
    bpy.context.view_layer.objects.active = obj
    clear_animation(obj)
    return obj


def clear_animation(obj) -> None:
    """Unassign the action and drop the NLA tracks (the add-on stashes the previous action in one),
    so the next export holds only the next action; actions nothing else uses are deleted."""
    animation = obj.animation_data
    if animation is None:
        return
    action, animation.action = animation.action, None
    for track in list(animation.nla_tracks):
        animation.nla_tracks.remove(track)
    if action is not None and action.users == 0:
        bpy.data.actions.remove(action)


def export_fbx(path: Path, first: int, last: int) -> None:
    """The armature with the scene's range baked from the active action alone, every frame a key."""
    bpy.ops.export_scene.fbx(filepath=str(path), use_selection=True, object_types={'ARMATURE'},
                             add_leaf_bones=False, bake_anim=True, bake_anim_use_all_bones=True,
                             bake_anim_use_nla_strips=False, bake_anim_use_all_actions=False,
                             bake_anim_force_startend_keying=True, bake_anim_step=1.0, bake_anim_simplify_factor=0.0)


def export_glb(path: Path, first: int, last: int) -> None:
    """One glTF animation (the active action), sampled at every frame of the scene's range, no keys dropped."""
    bpy.ops.export_scene.gltf(filepath=str(path), export_format='GLB', use_selection=True, export_animations=True,
                              export_animation_mode='ACTIVE_ACTIONS', export_frame_range=True,
                              export_force_sampling=True, export_frame_step=1, export_optimize_animation_size=False)


def export_bvh(path: Path, first: int, last: int) -> None:
    bpy.ops.export_anim.bvh(filepath=str(path), frame_start=first, frame_end=last, root_transform_only=False)


EXPORTERS = {"fbx": export_fbx, "glb": export_glb, "bvh": export_bvh}


def make_file(item, obj, path: Path, file_format: str, session) -> str:
    """Generate the item's action on `obj`, export it to `path`, remove it again; the model's name."""
    settings = bpy.context.scene.moscale
    settings.prompt, settings.seconds, settings.seed = item.prompt, item.seconds, item.seed
    bpy.ops.moscale.generate()
    action = obj.animation_data.action
    try:
        first, last = (round(frame) for frame in action.frame_range)
        scene = bpy.context.scene
        scene.frame_start, scene.frame_end = first, last  # what FBX and glTF export
        EXPORTERS[file_format](path, first, last)
    finally:
        clear_animation(obj)
    return session.last_motion.metadata.get("model", "")


# ----------------------------------------------------------------------------- the batch
def run(args, package: str) -> int:
    files = importlib.import_module(f"{package}.backend.moscale.batch_files")
    session = importlib.import_module(f"{package}.blender.session")
    properties = importlib.import_module(f"{package}.blender.properties")
    items = files.read_prompts(args.prompts, seconds=args.seconds, seed=args.seed)
    scene = bpy.context.scene
    if args.fps:
        scene.render.fps, scene.render.fps_base = args.fps, 1.0
    obj = prepare_armature(args.rig)
    settings = scene.moscale
    settings.target, settings.randomize_seed, settings.fit_scene_range = obj, False, False
    settings.use_current_frame, settings.start_frame = False, scene.frame_start
    suffix, extra = f".{args.format}", {"format": args.format, "fps": properties.scene_fps(scene),
                                        "rig": args.rig}
    args.out.mkdir(parents=True, exist_ok=True)
    entries, todo = files.resume(items, args.out, suffix, **extra)
    skipped = sum(entry["status"] == "ok" for entry in entries.values())

    def save():
        files.write_manifest(args.out, args.prompts, [entries[index] for index in sorted(entries)])

    save()
    with backend(args, session) if todo else contextlib.nullcontext():
        for index, item in enumerate(items):
            started = time.monotonic()
            if index in todo:
                file, model, error = f"{item.file}{suffix}", "", ""
                try:
                    model = make_file(item, obj, args.out / file, args.format, session)
                except Exception as exc:  # an operator's report or an export error: the item fails, the batch goes on
                    error = operator_message(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
                if error:  # no half-written file, nor an outdated one under the name the manifest gives
                    (args.out / file).unlink(missing_ok=True)
                entries[index] = files.entry(item, file, model, error, **extra)
                save()
            entry = entries[index]
            status = "done" if index not in todo and entry["status"] == "ok" else entry["status"]
            reason = f": {entry['error']}" if entry["error"] else ""
            print(f"[{index + 1}/{len(items)}] {status:<6} {item.prompt or ''!r} -> {entry['file'] or '-'} "
                  f"({time.monotonic() - started:.1f} s){reason}", flush=True)
    failed = sum(entry["status"] == "failed" for entry in entries.values())
    print(f"{len(items) - failed} of {len(items)} items ok ({skipped} already done), {failed} failed; "
          f"manifest: {args.out / files.MANIFEST}", flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Run a batch; the exit status (1 if an item failed or the batch could not run)."""
    if argv is None:  # inside Blender the script's arguments follow `--`; the bpy wheel has only them
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    args = parse_arguments(argv)
    try:
        if args.blend:
            bpy.ops.wm.open_mainfile(filepath=str(args.blend))
        with moscale_addon() as package:
            return run(args, package)
    except (BatchError, ValueError, OSError) as exc:  # ValueError: PromptFileError, an unusable manifest
        print(f"batch.py: {exc}", file=sys.stderr, flush=True)
        return 1


def exit_script(status: int) -> None:
    """End the script with `status`. Blender 4.2 as a Python module (the bpy wheel: no binary path)
    crashes in its C exit handlers once any add-on was enabled (5.0.1 exits cleanly), which turns the
    status into a segfault; there, with all work and the manifest written, leave before they run."""
    if not bpy.app.binary_path and bpy.app.version < (4, 3, 0):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    exit_script(main())
