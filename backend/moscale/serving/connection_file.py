"""The connection file: where a running server is and its secret token, readable by its user only.

Standard library only (the add-on reads these files). Like a Jupyter kernel's connection file, it
is created 0600 with O_EXCL in a per-user folder, so no other user can read the token or swap the
file under us; the server refuses to start when that cannot be guaranteed.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from pathlib import Path


class ConnectionFileError(RuntimeError):
    """The connection file cannot be written safely (or read)."""


def runtime_dir() -> Path:
    """Per-user folder for connection files, chosen per platform."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "moscale"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "moscale"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "moscale" if runtime else Path.home() / ".local" / "state" / "moscale"


def default_path(pid: int | None = None) -> Path:
    return runtime_dir() / f"server-{pid or os.getpid()}.json"


def latest() -> Path | None:
    """The newest connection file in the runtime folder (a server started by hand), or None."""
    files = sorted(runtime_dir().glob("server-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return files[0] if files else None


def check_writable(path: Path, create_parent: bool) -> Path:
    """Raise ConnectionFileError unless `path` can be created safely (before any slow start-up)."""
    path = Path(path).expanduser().absolute()
    parent = path.parent
    if create_parent and not parent.exists():
        try:
            parent.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise ConnectionFileError(f"cannot create the folder {parent} for the connection file: {exc}") from None
    if not parent.is_dir():
        raise ConnectionFileError(f"the folder {parent} for the connection file does not exist")
    if os.path.lexists(path):
        raise ConnectionFileError(f"the connection file {path} already exists: another server may be running; "
                                  f"delete the file if it is stale, or pass another --connection-file")
    if os.name == "posix":
        info = os.stat(parent)
        shared = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX
        if shared:
            raise ConnectionFileError(f"the folder {parent} is writable by other users (and not sticky), so the "
                                      f"connection file could be swapped; choose a private folder")
        if info.st_uid != os.getuid() and not info.st_mode & stat.S_ISVTX:
            raise ConnectionFileError(f"the folder {parent} belongs to another user")
    if not os.access(parent, os.W_OK):
        raise ConnectionFileError(f"the folder {parent} is not writable")
    return path


def write(path: Path, content: dict) -> Path:
    """Create `path` with mode 0600 atomically: a private temporary file linked into place, never
    replacing an existing file."""
    path = check_writable(path, create_parent=False)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(temporary, flags, 0o600)
    except OSError as exc:
        raise ConnectionFileError(f"cannot create the connection file in {path.parent}: {exc}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), 0o600)  # in case the umask dropped the owner bits
            json.dump(content, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        if os.name == "posix":
            os.link(temporary, path)  # fails instead of replacing a file that appeared meanwhile
            os.unlink(temporary)
        else:
            os.rename(temporary, path)  # on Windows rename fails if the target exists
    except OSError as exc:
        _unlink(temporary)
        raise ConnectionFileError(f"cannot write the connection file {path}: {exc}") from None
    return path


def read(path) -> dict:
    path = Path(path).expanduser()
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConnectionFileError(f"no connection file at {path}: is the server running? Start it from the "
                                  f"MoScale panel or run `moscale serve`.") from None
    except (OSError, ValueError) as exc:
        raise ConnectionFileError(f"cannot read the connection file {path}: {exc}") from None
    missing = [key for key in ("host", "port", "token") if key not in content]
    if missing:
        raise ConnectionFileError(f"the connection file {path} lacks {', '.join(missing)}")
    return content


def remove(path: Path, token: str) -> None:
    """Delete the file if it is still ours (same token), so a newer server's file survives."""
    try:
        if json.loads(Path(path).read_text(encoding="utf-8")).get("token") == token:
            _unlink(path)
    except (OSError, ValueError):
        pass


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
