"""`moscale batch` and server-backed generation: the batch loop, in-process and server runners.

Prompt files, output names and the manifest live in batch_files (stdlib only, shared with the
Blender add-on's batch script); read_prompts, safe_name and PromptFileError stay importable from here.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from pathlib import Path

import numpy as np

from .batch_files import (  # noqa: F401 (re-exported)
    FPS,
    BatchItem,
    PromptFileError,
    entry,
    read_prompts,
    resume,
    safe_name,
    write_manifest,
)
from .motion.motion import Motion, save_motion

IN_PROCESS_BATCH = 16  # items of equal length per forward batch
SERVER_WINDOW = 16  # jobs in flight on the server, so it can merge them into forward batches
JOB_TIMEOUT = 3600.0


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
    entries, todo = resume(items, folder, suffix)

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
                entries[index_of[id(item)]] = entry(item, file, model, error)
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
