"""A Blender of its own for tests of the backend's lifetime: installs the extension, starts the
add-on's local backend, prints {"pid", "connection_file"} as one JSON line, and quits when its
stdin closes (unless it is killed first)."""

import json
import sys
import tempfile
from pathlib import Path

from blender_env import MODULE, USER_RESOURCES, install_extension

import bpy  # after blender_env
from conftest import use_local_backend

install_extension(Path(tempfile.mkdtemp(dir=USER_RESOURCES)))
use_local_backend()
assert bpy.ops.moscale.backend_start() == {'FINISHED'}
backend = sys.modules[MODULE + ".blender.session"].get_backend()
print(json.dumps({"pid": backend.process.pid, "connection_file": str(backend.connection_path)}), flush=True)
sys.stdin.read()
