"""Puts tests/ on sys.path (pytest does so for a rootdir conftest) so tests share `synthetic_motion`.

tests/blender needs Blender as a Python module (bpy), which lives in .venv-blender, not in the
backend's .venv: without bpy it is not collected (scripts/test.sh runs it with .venv-blender).
"""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("bpy") else ["blender"]
