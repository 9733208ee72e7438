"""Build the installable extension: dist/moscale-<version>.zip (`python build.py [--out DIR]`).

The zip holds the manifest and the add-on package (addon/) at its root, and the backend's
sources with its shipped checkpoints under backend/moscale/: the add-on imports the stdlib-only
client from there and starts that very backend. The zip is reproducible: entries sorted, fixed
timestamps and permissions, so the same inputs give the same bytes.
"""

import argparse
import re
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MANIFEST = "blender_manifest.toml"
REQUIRED_FIELDS = {"schema_version": str, "id": str, "version": str, "name": str, "tagline": str,
                   "maintainer": str, "type": str, "blender_version_min": str, "license": list}
# Files the add-on cannot work without, as zip paths.
REQUIRED_FILES = (MANIFEST, "__init__.py", "blender/__init__.py", "backend_process.py",
                  "backend/moscale/__init__.py", "backend/moscale/serving/protocol.py",
                  "backend/moscale/serving/client.py", "backend/moscale/serving/server.py", "batch.py",
                  "backend/moscale/batch_files.py")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}


class BuildError(Exception):
    """The manifest or the sources cannot make a valid extension; the message says what to fix."""


def read_manifest(path: Path = ROOT / MANIFEST) -> dict:
    """The manifest, checked for the fields Blender requires (4.2+ schema 1.0.0)."""
    manifest = tomllib.loads(path.read_text(encoding="utf-8"))
    problems = [f"'{key}' is missing or not a {kind.__name__}" for key, kind in REQUIRED_FIELDS.items()
                if not isinstance(manifest.get(key), kind)]
    if not problems:
        if manifest["schema_version"] != "1.0.0":
            problems.append("'schema_version' must be \"1.0.0\"")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", manifest["id"]):
            problems.append("'id' must be a lower-case Python identifier")
        for key in ("version", "blender_version_min"):
            if not re.fullmatch(r"\d+\.\d+\.\d+", manifest[key]):
                problems.append(f"'{key}' must look like 1.2.3")
        if manifest["type"] != "add-on":
            problems.append("'type' must be \"add-on\"")
        if len(manifest["tagline"]) > 64 or manifest["tagline"].endswith((".", "!", "?")):
            problems.append("'tagline' must be at most 64 characters, without closing punctuation")
        if not manifest["license"] or not all(item.startswith("SPDX:") for item in manifest["license"]):
            problems.append("'license' must list SPDX identifiers such as \"SPDX:GPL-3.0-or-later\"")
        for permission, reason in manifest.get("permissions", {}).items():
            if not isinstance(reason, str) or not reason or len(reason) > 64 or reason.endswith("."):
                problems.append(f"permission '{permission}' needs a reason of at most 64 characters, no final period")
    if problems:
        raise BuildError(f"{path}: " + "; ".join(problems))
    return manifest


def extension_files(root: Path = ROOT) -> list[tuple[str, Path]]:
    """(path in the zip, file on disk), sorted by zip path."""
    files = [(MANIFEST, root / MANIFEST)]
    for source, prefix in ((root / "addon", ""), (root / "backend" / "moscale", "backend/moscale/")):
        for path in source.rglob("*"):
            relative = path.relative_to(source)
            if path.is_file() and not SKIPPED_PARTS.intersection(relative.parts) and path.suffix != ".pyc":
                files.append((prefix + relative.as_posix(), path))
    return sorted(files)


def build(out_dir: Path = ROOT / "dist", root: Path = ROOT) -> Path:
    """Write and check the extension zip; its path."""
    manifest = read_manifest(root / MANIFEST)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for name, path in extension_files(root):
            entry = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            entry.create_system = 3  # Unix, whatever the building machine, so the attributes mean the same
            archive.writestr(entry, path.read_bytes(), compresslevel=9)
    check_zip(target)
    return target


def check_zip(path: Path) -> None:
    """Raise BuildError unless the zip is an extension Blender can install and the add-on can run."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = tomllib.loads(archive.read(MANIFEST).decode("utf-8")) if MANIFEST in names else {}
    missing = [name for name in REQUIRED_FILES if name not in names]
    if not any(name.startswith("backend/moscale/checkpoints/") and name.endswith("/config.json") for name in names):
        missing.append("backend/moscale/checkpoints/*/config.json (a shipped model)")
    if missing:
        raise BuildError(f"{path} lacks {', '.join(missing)}")
    stray = sorted(name for name in names if SKIPPED_PARTS.intersection(name.split("/")) or name.endswith(".pyc"))
    if stray:
        raise BuildError(f"{path} holds build leftovers: {', '.join(stray[:5])}")
    if manifest.get("id") != "moscale":
        raise BuildError(f"{path}: the manifest at the zip's root must have id \"moscale\"")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    try:
        print(build(args.out))
    except BuildError as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
