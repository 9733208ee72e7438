"""`moscale batch` and server-backed generation: prompt files, output names, the manifest, resuming."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sys
import tempfile
import time
import unicodedata
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .motion.motion import Motion, save_motion

FPS = 20
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "moscale.batch"
FIELDS = ("prompt", "seconds", "seed", "name")
MAX_PROMPT = 1000  # the server's limit, applied in-process too so both modes accept the same files
MAX_NAME = 60
IN_PROCESS_BATCH = 16  # items of equal length per forward batch
SERVER_WINDOW = 16  # jobs in flight on the server, so it can merge them into forward batches
JOB_TIMEOUT = 3600.0


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
    from .generation.generator import plan_frames

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
            return (f"name {item.name!r} is not a plain file name (no path separators, no leading dot, "
                    f"at most {MAX_NAME * 2} characters)")
        item.name = item.name.strip()
    return ""


def _valid_name(name: str) -> bool:
    return (0 < len(name) <= MAX_NAME * 2 and not name.startswith(".")
            and re.search(r"[/\\:\x00-\x1f]", name) is None)


# ----------------------------------------------------------------------------- file names
def safe_name(prompt: str) -> str:
    """A file name from a prompt: lowercase ASCII, other characters as `_`, at most MAX_NAME long."""
    ascii_text = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode().lower()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")[:MAX_NAME].rstrip("_")
    return name or "motion"


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


def _entry(item: BatchItem, file: str, model: str = "", error: str = "") -> dict:
    return {"line": item.line, "prompt": item.prompt, "seed": item.seed, "seconds": item.seconds, "file": file,
            "model": model, "status": "failed" if error else "ok", "error": error or None}


def _finished(item: BatchItem, file: str, previous: list[dict], folder: Path) -> dict | None:
    """The earlier manifest entry of this same item, if it succeeded and its file is still there."""
    for entry in previous:
        if (entry.get("status") == "ok" and entry.get("file") == file and entry.get("prompt") == item.prompt
                and entry.get("seed") == item.seed and entry.get("seconds") == item.seconds
                and (folder / file).is_file()):
            return entry
    return None


# ----------------------------------------------------------------------------- the batch
class ProgressBar:
    """`[#####-----]  3/10  ok 2  failed 1  eta 12 s` on one line of stderr."""

    def __init__(self, total: int, stream=None, width: int = 30):
        self.total, self.stream, self.width = total, stream or sys.stderr, width
        self.started = time.monotonic()

    def show(self, done: int, ok: int, failed: int, fresh: int) -> None:
        filled = round(self.width * done / self.total) if self.total else self.width
        elapsed = time.monotonic() - self.started
        eta = f"  eta {elapsed / fresh * (self.total - done):.0f} s" if fresh and done < self.total else ""
        print(f"\r  [{'#' * filled}{'-' * (self.width - filled)}] {done}/{self.total}  ok {ok}  failed {failed}{eta}",
              end="", file=self.stream, flush=True)

    def close(self) -> None:
        print(file=self.stream, flush=True)


def run_batch(prompts: Path, items: list[BatchItem], folder: Path, suffix: str, make_runner, stream=None) -> dict:
    """Generate every unfinished item into `folder` and keep its manifest; return the counts.

    make_runner() is called only if something is left to generate; it returns a function that takes
    items and yields (item, Motion or the exception that stopped it), in any order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(folder)
    entries, todo = {}, []
    for index, item in enumerate(items):
        file = f"{item.file}{suffix}" if item.file else ""
        if item.error:
            entries[index] = _entry(item, file, error=item.error)
        else:
            done = _finished(item, file, previous, folder)
            if done is None:
                todo.append(index)
            else:
                entries[index] = {**done, "line": item.line}

    def save():
        write_manifest(folder, prompts, [entries[index] for index in sorted(entries)])

    skipped = sum(entry["status"] == "ok" for entry in entries.values())
    bar = ProgressBar(len(items), stream)

    def show(fresh: int):
        failed = sum(entry["status"] == "failed" for entry in entries.values())
        bar.show(len(entries), len(entries) - failed, failed, fresh)

    save()
    show(0)
    try:
        if todo:
            index_of = {id(items[index]): index for index in todo}
            run = make_runner()
            for fresh, (item, outcome) in enumerate(run([items[index] for index in todo]), 1):
                file = f"{item.file}{suffix}"
                model = outcome.metadata.get("model", "") if isinstance(outcome, Motion) else ""
                error = "" if isinstance(outcome, Motion) else _message(outcome)
                if not error:
                    try:
                        save_motion(folder / file, outcome)
                    except (OSError, ValueError) as exc:
                        error = f"cannot write {file}: {exc}"
                entries[index_of[id(item)]] = _entry(item, file, model, error)
                save()
                show(fresh)
    finally:
        bar.close()
    failed = sum(entry["status"] == "failed" for entry in entries.values())
    return {"items": len(items), "ok": len(items) - failed, "failed": failed, "skipped": skipped}


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _metadata(prompt: str, seed: int, model: str, notes) -> dict:
    return {"prompt": prompt, "seed": seed, "model": model, "notes": list(notes)}


def in_process_runner(generator, options):
    """Generate items with a MotionGenerator, items of equal length together."""
    from .generation.generator import MotionRequest

    def generate(chunk):
        try:
            results = generator.generate([MotionRequest(i.prompt, i.frames, i.seed) for i in chunk], options)
        except Exception as exc:  # one bad item must not sink the others: retry them one by one
            if len(chunk) == 1:
                yield chunk[0], exc
                return
            for item in chunk:
                yield from generate([item])
            return
        for item, result in zip(chunk, results):
            try:
                yield item, Motion.from_positions(result.positions, fps=FPS, metadata=_metadata(
                    result.prompt, result.seed, generator.model.name, result.notes))
            except Exception as exc:  # the IK of one motion
                yield item, exc

    def run(items):
        groups: dict[int, list[BatchItem]] = {}
        for item in items:
            groups.setdefault(item.frames, []).append(item)
        for group in groups.values():
            for begin in range(0, len(group), IN_PROCESS_BATCH):
                yield from generate(group[begin:begin + IN_PROCESS_BATCH])
    return run


# ----------------------------------------------------------------------------- against a server
def connect(connection_file: Path):
    """A client for the server of `connection_file`; RuntimeError with the reason if unreachable."""
    from .serving.client import BackendError, Client

    try:
        return Client.from_connection_file(connection_file)
    except BackendError as exc:
        raise RuntimeError(exc.message) from None


def server_sampling(options) -> dict:
    """The protocol's sampling fields of SamplingOptions."""
    return {"guidance": options.guidance, "schedule": list(options.schedule), "temperature": options.temperature,
            "top_k": options.top_k, "top_p": options.top_p}


def motion_from_data(data, metadata: dict) -> Motion:
    """Our Motion from a client's MotionData (arrays copied out of the received frame)."""
    arrays = data.to_numpy()
    return Motion(fps=float(data.fps), joint_names=list(data.joint_names), parents=list(data.parents),
                  rest_offsets=arrays["rest_offsets"].astype(np.float64),
                  rotations=arrays["rotations"].astype(np.float64),
                  root_translation=arrays["root_translation"].astype(np.float64),
                  positions=arrays["positions"].astype(np.float64),
                  foot_contacts=arrays["foot_contacts"].astype(bool), metadata=metadata).validate()


def _motions(data_list) -> list[Motion]:
    return [motion_from_data(data, _metadata(data.prompt, data.seed, data.metadata.get("model", ""), data.notes))
            for data in data_list]


def generate_on_server(connection_file: Path, prompt: str, frames: int, seed: int, variations: int, options,
                       progress=None) -> list[Motion]:
    """`moscale generate --server`: the motions, or RuntimeError with the server's message."""
    from .serving.client import BackendError

    with connect(connection_file) as client:
        try:
            return _motions(client.generate(prompt, frames=frames, seed=seed, variations=variations,
                                            progress=progress, timeout=JOB_TIMEOUT, **server_sampling(options)))
        except BackendError as exc:
            raise RuntimeError(exc.message) from None


def server_runner(client, options):
    """Send items as separate jobs, up to SERVER_WINDOW at a time, so the server batches them."""
    from .serving.client import BackendError, BackendUnavailable

    sampling = server_sampling(options)

    def finish(item, job):
        try:
            return item, _motions(job.result(timeout=JOB_TIMEOUT))[0]
        except BackendUnavailable as exc:  # every further item would fail the same way
            raise RuntimeError(f"{exc.message} Run the batch again to resume.") from None
        except (BackendError, ValueError) as exc:
            return item, RuntimeError(exc.message if isinstance(exc, BackendError) else str(exc))

    def run(items):
        waiting = deque()
        for item in items:
            if len(waiting) >= SERVER_WINDOW:
                yield finish(*waiting.popleft())
            try:
                job = client.submit("generate", prompt=item.prompt, frames=item.frames, seed=item.seed, **sampling)
            except BackendUnavailable as exc:
                raise RuntimeError(f"{exc.message} Run the batch again to resume.") from None
            waiting.append((item, job))
        while waiting:
            yield finish(*waiting.popleft())
    return run
