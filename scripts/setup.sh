#!/usr/bin/env bash
# Creates the environments at the repository root if they are missing, and installs into them:
#   .venv/            the backend: MoScale with its test tools (torch, numpy 2)
#   .venv-blender/    Blender 5.0.1 as a Python module (bpy needs numpy < 2, so it cannot share .venv)
#                     and pytest, for the add-on's tests in real Blender
#   .venv-blender42/  with --blender42 only: Blender 4.2 LTS as a Python module, for the add-on's
#                     legacy action API (a 350 MB wheel and 1 GB on disk, so only when asked)
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

# The bpy wheels are built for CPython 3.11 only. Blender 4.2 ships numpy 1.26.
blender_env() {  # blender_env DIR REQUIREMENT...
    local venv="$1"
    shift
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    if [ ! -f "$venv/.moscale-installed" ] || [ scripts/setup.sh -nt "$venv/.moscale-installed" ]; then
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet "$@" pytest
        touch "$venv/.moscale-installed"
    fi
}
blender_env .venv-blender bpy==5.0.1
if [ "${1:-}" = "--blender42" ]; then
    blender_env .venv-blender42 bpy==4.2.23 'numpy<2'
fi
