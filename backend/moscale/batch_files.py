"""Batch prompt files, output file names and the manifest, shared by `moscale batch` and the
Blender add-on's batch script (addon/batch.py). Stdlib only: Blender's Python has no torch.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .generation.lengths import plan_frames

FPS = 20  # the model's frame rate; `seconds` of an item are counted in its frames
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "moscale.batch"
FIELDS = ("prompt", "seconds", "seed", "name")
MAX_PROMPT = 1000  # the server's limit, applied in-process too so both modes accept the same files
MAX_NAME = 60
# Names Windows keeps for devices, whatever the extension: a file "con.fbx" cannot be made there.
WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(1, 10)), *(f"lpt{n}" for n in range(1, 10))}


class PromptFileError(ValueError):
    """A prompts file that cannot be read; the message names the file and line."""


@dataclass
class BatchItem:
    line: int  # 1-based line of the prompts file
    prompt: str
    seconds: object  # as given; a float once valid
    seed: object
    name: str | None = None
    file: str = ""
    error: str = ""

    @property
    def frames(self) -> int:
        return round(self.seconds * FPS)


# ----------------------------------------------------------------------------- reading prompt files
def read_prompts(path: Path, seconds: float = 4.0, seed: int = 0) -> list[BatchItem]:
    """Items of a .txt, .jsonl or .csv prompts file. Items without their own seed get seed + index.

    Unreadable structure (invalid JSON, unknown fields) raises PromptFileError naming file and line;
    a bad value (empty prompt, bad seconds or seed) only marks its item with `error`.
    """
    path = Path(path)
    readers = {".txt": _read_txt, ".jsonl": _read_jsonl, ".csv": _read_csv}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise PromptFileError(f"{path}: unknown prompts file type {path.suffix!r}; use .txt, .jsonl or .csv")
    if not path.is_file():
        raise FileNotFoundError(f"prompts file not found: {path}")
    items = []
    for line, fields in reader(path, _text(path)):
        item = BatchItem(line, fields.get("prompt"), fields.get("seconds", seconds),
                         fields.get("seed", seed + len(items)), fields.get("name"))
        item.error = _check(item)
        items.append(item)
    if not items:
        raise PromptFileError(f"{path}: no prompts in the file")
    assign_files(items)
    return items


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise PromptFileError(f"{path} line {line}: not UTF-8 text ({exc.reason})") from None


def _read_txt(path: Path, text: str):
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.strip().startswith("#"):
            yield number, {"prompt": line.strip()}


def _read_jsonl(path: Path, text: str):
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PromptFileError(f"{path} line {number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(fields, dict):
            raise PromptFileError(f"{path} line {number}: expected a JSON object like {{\"prompt\": \"...\"}}")
        _check_fields(path, number, fields)
        yield number, fields


def _read_csv(path: Path, text: str):
    reader = csv.DictReader(text.splitlines(keepends=True))
    if reader.fieldnames is None:
        raise PromptFileError(f"{path}: the file is empty; the first line must be a header with a `prompt` column")
    header = [name.strip() for name in reader.fieldnames]
    if "prompt" not in header:
        raise PromptFileError(f"{path} line 1: the header has no `prompt` column (columns: {', '.join(FIELDS)})")
    _check_fields(path, 1, dict.fromkeys(header))
    reader.fieldnames = header
    for row in reader:
        if None in row:
            raise PromptFileError(f"{path} line {reader.line_num}: more cells than the header's {len(header)}")
        fields = {key: _csv_value(key, value.strip()) for key, value in row.items() if value and value.strip()}
        yield reader.line_num, fields


def _csv_value(key: str, value: str):
    """Numbers of a CSV cell as numbers, so that they are checked like JSON values."""
    if key == "seconds":
        try:
            return float(value)
        except ValueError:
            return value
    if key == "seed":
        return int(value) if re.fullmatch(r"[+-]?\d+", value) else value
    return value


def _check_fields(path: Path, line: int, fields: dict) -> None:
    unknown = [key for key in fields if key not in FIELDS]
    if unknown:
        raise PromptFileError(f"{path} line {line}: unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS)}")


def _check(item: BatchItem) -> str:
    """Why the item cannot be generated, or "" (and normalise its prompt, seconds and name)."""
    if not isinstance(item.prompt, str) or not item.prompt.strip():
        return "empty prompt"
    item.prompt = item.prompt.strip()
    if len(item.prompt) > MAX_PROMPT:
        return f"prompt longer than {MAX_PROMPT} characters"
    value = item.seconds
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return f"seconds must be a positive number, got {value!r}"
    item.seconds = float(value)
    try:
        plan_frames(item.frames)
    except ValueError as exc:
        return str(exc)
    if isinstance(item.seed, bool) or not isinstance(item.seed, int) or item.seed < 0:
        return f"seed must be an integer >= 0, got {item.seed!r}"
    if item.name is not None:
        if not isinstance(item.name, str) or not _valid_name(item.name.strip()):
            return (f"name {item.name!r} is not a plain file name (no path separators, none of <>:\"|?*, "
                    f"no leading dot, no device name such as CON, at most {MAX_NAME * 2} characters)")
        item.name = item.name.strip()
    return ""


def _valid_name(name: str) -> bool:
    """A name that makes the same file on Windows, macOS and Linux."""
    return (0 < len(name) <= MAX_NAME * 2 and not name.startswith(".") and not name.endswith(".")
            and re.search(r'[<>:"/\\|?*\x00-\x1f]', name) is None
            and name.split(".")[0].casefold() not in WINDOWS_DEVICES)


# ----------------------------------------------------------------------------- file names
def safe_name(prompt: str) -> str:
    """A file name from a prompt: lowercase ASCII, other characters as `_`, at most MAX_NAME long."""
    ascii_text = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode().lower()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")[:MAX_NAME].rstrip("_")
    return f"{name}_" if name in WINDOWS_DEVICES else name or "motion"


def assign_files(items: list[BatchItem]) -> None:
    """Set each item's file stem: its name, else safe_name(prompt) made unique with _2, _3, ...

    A name used by an earlier item marks the later one as failed rather than overwrite a file.
    """
    taken = {Path(MANIFEST).stem: 0}
    for item in items:
        if item.name and not item.error:
            if item.name.casefold() in taken:
                item.error = f"name {item.name!r} is already used by line {taken[item.name.casefold()]}"
            else:
                taken[item.name.casefold()] = item.line
                item.file = item.name
    for item in items:
        if item.file or item.name:
            continue
        base = safe_name(item.prompt) if isinstance(item.prompt, str) else "motion"
        stem, count = base, 1
        while stem.casefold() in taken:
            count += 1
            stem = f"{base}_{count}"
        taken[stem.casefold()] = item.line
        item.file = stem


# ----------------------------------------------------------------------------- manifest
def read_manifest(folder: Path) -> list[dict]:
    """The items of an earlier run's manifest in `folder` (none if there is no manifest)."""
    path = folder / MANIFEST
    if not path.exists():
        return []
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); move it away to start the batch over") from None
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path} is not a `moscale batch` manifest; choose another --out folder")
    return [entry for entry in document.get("items", []) if isinstance(entry, dict)]


def write_manifest(folder: Path, prompts: Path, entries: list[dict]) -> None:
    """Replace the manifest atomically: a reader sees the old or the new one, never a partial file."""
    document = {"format": MANIFEST_FORMAT, "version": 1, "prompts": str(prompts), "items": entries}
    handle, temporary = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(document, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, folder / MANIFEST)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def entry(item: BatchItem, file: str, model: str = "", error: str = "", **extra) -> dict:
    """The manifest entry of an item; `extra` adds fields of the tool that made the file (format, fps)."""
    return {"line": item.line, "prompt": item.prompt, "seed": item.seed, "seconds": item.seconds, "file": file,
            "model": model, "status": "failed" if error else "ok", "error": error or None, **extra}


def _finished(item: BatchItem, file: str, previous: list[dict], folder: Path, extra: dict) -> dict | None:
    """The earlier manifest entry of this same item, if it succeeded and its file is still there."""
    for earlier in previous:
        if (earlier.get("status") == "ok" and earlier.get("file") == file and earlier.get("prompt") == item.prompt
                and earlier.get("seed") == item.seed and earlier.get("seconds") == item.seconds
                and all(earlier.get(key) == value for key, value in extra.items()) and (folder / file).is_file()):
            return earlier
    return None


def resume(items: list[BatchItem], folder: Path, suffix: str, **extra) -> tuple[dict[int, dict], list[int]]:
    """(manifest entries already settled, by item index; indices of the items left to generate).

    Settled are items with an error of their own and items an earlier run in `folder` finished with
    the same prompt, seed, seconds and `extra` fields, whose file is still there.
    """
    previous = read_manifest(folder)
    settled, todo = {}, []
    for index, item in enumerate(items):
        file = f"{item.file}{suffix}" if item.file else ""
        if item.error:
            settled[index] = entry(item, file, error=item.error, **extra)
        else:
            done = _finished(item, file, previous, folder, extra)
            if done is None:
                todo.append(index)
            else:
                settled[index] = {**done, "line": item.line}
    return settled, todo
