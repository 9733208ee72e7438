"""build.py: the extension zip's layout, its checks, and that it is reproducible."""

import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import build  # noqa: E402


def test_same_sources_give_the_same_bytes(tmp_path):
    first = build.build(tmp_path / "a")
    second = build.build(tmp_path / "b")
    assert first.name == "moscale-0.1.0.zip"
    assert first.read_bytes() == second.read_bytes()


def test_layout_manifest_and_addon_at_the_root_backend_inside(tmp_path):
    with zipfile.ZipFile(build.build(tmp_path)) as archive:
        entries = archive.infolist()
    names = [entry.filename for entry in entries]
    assert names == sorted(names)
    assert {"blender_manifest.toml", "__init__.py", "retarget.py", "blender/operators.py",
            "backend/moscale/serving/client.py"} <= set(names)
    assert any(name.startswith("backend/moscale/checkpoints/") for name in names)
    assert not any("__pycache__" in name or name.startswith(("tests/", "addon/")) for name in names)
    assert {entry.date_time for entry in entries} == {build.ZIP_TIME}
    assert {entry.external_attr >> 16 for entry in entries} == {0o644}


def test_manifest_problems_are_named(tmp_path):
    manifest = tmp_path / "blender_manifest.toml"
    text = (ROOT / "blender_manifest.toml").read_text()
    manifest.write_text(text.replace('tagline = ', 'tagline_ = ').replace('version = "0.1.0"', 'version = "1.0"'))
    with pytest.raises(build.BuildError, match="'tagline' is missing"):
        build.read_manifest(manifest)
    manifest.write_text(text.replace('version = "0.1.0"', 'version = "1.0"'))
    with pytest.raises(build.BuildError, match="'version' must look like 1.2.3"):
        build.read_manifest(manifest)


def test_an_incomplete_zip_is_refused(tmp_path):
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("blender_manifest.toml", (ROOT / "blender_manifest.toml").read_text())
        archive.writestr("__init__.py", "")
    with pytest.raises(build.BuildError, match="lacks blender/__init__.py"):
        build.check_zip(broken)
