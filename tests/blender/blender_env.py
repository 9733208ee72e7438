"""Blender as a Python module with a private user folder, and the extension installed into it.

Import this before bpy anywhere: it points every user folder (config, scripts, extensions) at a
temporary directory, so tests and benchmarks never touch the real user's Blender set-up.
"""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USER_RESOURCES = Path(tempfile.mkdtemp(prefix="moscale-blender-user-"))
atexit.register(shutil.rmtree, USER_RESOURCES, ignore_errors=True)
os.environ["BLENDER_USER_RESOURCES"] = str(USER_RESOURCES)
for kind in ("CONFIG", "SCRIPTS", "EXTENSIONS", "DATAFILES"):
    os.environ[f"BLENDER_USER_{kind}"] = str(USER_RESOURCES / kind.lower())

import bpy  # noqa: E402

sys.path.insert(0, str(ROOT))
import build  # noqa: E402

MODULE = "bl_ext.user_default.moscale"


def install_extension(out_dir: Path) -> Path:
    """Build the zip with build.py, install and enable it as a user would; the zip's path."""
    extension_zip = build.build(out_dir)
    result = bpy.ops.extensions.package_install_files(filepath=str(extension_zip), repo="user_default",
                                                      enable_on_install=True)
    if result != {'FINISHED'} or MODULE not in bpy.context.preferences.addons:
        raise RuntimeError(f"installing {extension_zip} failed: {result}")
    return extension_zip
