#!/usr/bin/env bash
# The whole test suite: the backend and the add-on's pure modules (.venv), then the add-on in real
# Blender 5.0.1 (.venv-blender, the bpy wheel; tests/blender is not collected without bpy).
# With --blender42: only the add-on's tests in Blender 4.2 (.venv-blender42, made by
# `scripts/setup.sh --blender42`), which run the legacy (pre-slot) action API.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${1:-}" = "--blender42" ]; then
    [ -x .venv-blender42/bin/python ] || { echo "first: bash scripts/setup.sh --blender42" >&2; exit 1; }
    .venv-blender42/bin/python -m pytest -q tests/blender
    exit
fi
.venv/bin/python -m pytest -q
.venv-blender/bin/python -m pytest -q tests/blender
