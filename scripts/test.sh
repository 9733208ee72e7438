#!/usr/bin/env bash
# The whole test suite: the backend and the add-on's pure modules (.venv), then the add-on in real
# Blender (.venv-blender, the bpy wheel; tests/blender is not collected without bpy).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
.venv/bin/python -m pytest -q
.venv-blender/bin/python -m pytest -q tests/blender
