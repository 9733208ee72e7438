#!/usr/bin/env bash
# Creates the two environments at the repository root if they are missing, and installs into them:
#   .venv/          the backend: MoScale with its test tools (torch, numpy 2)
#   .venv-blender/  Blender as a Python module (bpy needs numpy < 2, so it cannot share .venv) and
#                   pytest, for the add-on's tests in real Blender
# Idempotent: a second run only re-checks the installs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.moscale-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints-cpu.txt -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -c constraints-cpu.txt -e '.[test]'
    touch "$stamp"
fi

# bpy 5.0.1 is built for CPython 3.11 only.
if [ ! -x .venv-blender/bin/python ]; then
    "$python" -m venv .venv-blender
fi
stamp=.venv-blender/.moscale-installed
if [ ! -f "$stamp" ] || [ scripts/setup.sh -nt "$stamp" ]; then
    .venv-blender/bin/python -m pip install --quiet --upgrade pip
    .venv-blender/bin/python -m pip install --quiet bpy==5.0.1 pytest
    touch "$stamp"
fi
