"""The model side of the server: request validation, running jobs on the generator, result motions.

Validation runs on connection threads (plain Python, no torch calls) so a bad request is refused
before it can join, and spoil, a shared forward batch; `run` is only ever called by the worker.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from ..device import resolve_device
from .jobs import Job
from .protocol import MOTION_ARRAYS, ProtocolError, encode_motion

log = logging.getLogger("moscale.serving")

FPS = 20.0
MAX_MOTIONS_PER_JOB = 32
MAX_FRAMES_PER_JOB = 48_000  # all motions of one job; keeps a result frame well under 64 MiB
SAMPLING_FIELDS = ("guidance", "temperature", "top_k", "top_p", "schedule")
PROGRESS_INTERVAL = 0.1  # seconds between a job's progress frames: enough for a progress bar, few for a short job


def invalid(message: str) -> ProtocolError:
    return ProtocolError("invalid_request", message)


def _integer(fields: dict, name: str, default=None, low=None, high=None) -> int:
    value = fields.get(name, default)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value != int(value):
        raise invalid(f"`{name}` must be an integer" + ("" if name in fields else " and is missing"))
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(f"`{name}` must be between {low} and {high}, got {value}")
    return int(value)


def _number(fields: dict, name: str, default: float) -> float:
    value = fields.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(f"`{name}` must be a finite number")
    return float(value)


def _prompt(value, name: str = "prompt") -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 1000:
        raise invalid(f"`{name}` must be a non-empty string of at most 1000 characters")
    return value.strip()


class Engine:
    """A loaded checkpoint and its generator; `run` executes a batch of jobs on the worker thread."""

    def __init__(self, checkpoint: Path, device: str, text_encoder_path: Path | None = None):
        from ..checkpoint import load_checkpoint
        from ..generation.generator import MotionGenerator
        from ..text.encoders import load_text_encoder

        self.device = resolve_device(device)
        self.checkpoint = Path(checkpoint)
        self.model = load_checkpoint(self.checkpoint, self.device)
        if text_encoder_path:
            self.model.text_encoder.path = str(text_encoder_path)
        # Loaded now, not on the first request, so "the connection file exists" means "ready".
        encoder = load_text_encoder(self.model.text_encoder, self.device,
                                    expected_dim=self.model.transformer.config.text_dim)
        self.generator = MotionGenerator(self.model, text_encoder=encoder, device=self.device)
        self.n_scales = len(self.model.transformer.patch_sizes)
        self._summary = {"checkpoint": str(self.checkpoint), "device": self.device, **self.model.summary()}

    def summary(self) -> dict:
        return self._summary

    def skeleton(self) -> dict:
        """The joints every result uses (rest offsets are refitted per motion and sent with it)."""
        from ..motion.skeleton import DEFAULT_REST_OFFSETS, JOINT_NAMES, PARENTS

        return {"joint_names": list(JOINT_NAMES), "parents": list(PARENTS),
                "default_rest_offsets": DEFAULT_REST_OFFSETS.tolist(), "fps": FPS, "up": "+Y", "forward": "+Z"}

    def limits(self) -> dict:
        from ..generation.generator import MAX_TOTAL_FRAMES, MIN_FRAMES

        return {"min_frames": MIN_FRAMES, "max_frames": MAX_TOTAL_FRAMES, "frame_multiple": self.model.unit_length,
                "max_frames_per_pass": self.model.max_frames, "max_motions_per_job": MAX_MOTIONS_PER_JOB,
                "max_frames_per_job": MAX_FRAMES_PER_JOB, "fps": FPS}

    # ----------------------------------------------------------------------------- validation
    def options(self, fields: dict):
        from ..generation.scales import DEFAULT_SCHEDULE, SamplingOptions

        schedule = fields.get("schedule", list(DEFAULT_SCHEDULE))
        if not isinstance(schedule, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                                     and 1 <= s <= 100 for s in schedule):
            raise invalid(f"`schedule` must be a list of {self.n_scales} step counts from 1 to 100")
        options = SamplingOptions(guidance=_number(fields, "guidance", 5.0), schedule=list(schedule),
                                  temperature=_number(fields, "temperature", 1.0),
                                  top_k=_integer(fields, "top_k", 0, 0, 1 << 20), top_p=_number(fields, "top_p", 0.9))
        try:
            options.validate(self.n_scales)
        except ValueError as exc:
            raise invalid(str(exc)) from None
        return options

    def _frames(self, fields: dict, per_item: int | None = None) -> list[int] | int:
        """Frames from `frames` or `seconds` (a number, or a list with one per prompt)."""
        from ..generation.generator import plan_frames

        name = "frames" if "frames" in fields else "seconds"
        value = fields.get(name, 4.0)
        values = value if isinstance(value, list) and per_item is not None else [value]
        if per_item is not None and len(values) not in (1, per_item):
            raise invalid(f"`{name}` must be one number or one per prompt ({per_item})")
        frames = []
        for item in values:
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
                raise invalid(f"`{name}` must be a finite number (or a list of them)")
            try:
                frames.append(plan_frames(item if name == "frames" else round(item * FPS), self.model.unit_length)[0])
            except ValueError as exc:
                raise invalid(str(exc)) from None
        if per_item is None:
            return frames[0]
        return frames * per_item if len(frames) == 1 else frames

    def parse_generate(self, fields: dict) -> dict:
        from ..generation.generator import MotionRequest

        if "segments" in fields:
            return self._parse_segments(fields)
        prompts = fields.get("prompts", [fields.get("prompt")] if "prompt" in fields else None)
        if not isinstance(prompts, list) or not prompts or len(prompts) > MAX_MOTIONS_PER_JOB:
            raise invalid(f"give `prompt` (a string) or `prompts` (1 to {MAX_MOTIONS_PER_JOB} strings)")
        prompts = [_prompt(p, "prompts") for p in prompts]
        frames = self._frames(fields, len(prompts))
        seeds = fields.get("seeds", [_integer(fields, "seed", 0, 0, 2 ** 62)] * len(prompts))
        if not isinstance(seeds, list) or len(seeds) != len(prompts):
            raise invalid("`seeds` must be a list with one integer per prompt")
        seeds = [_integer({"seeds": s}, "seeds", None, 0, 2 ** 62) for s in seeds]
        variations = _integer(fields, "variations", 1, 1, MAX_MOTIONS_PER_JOB)
        requests = [MotionRequest(p, n, s + k) for p, n, s in zip(prompts, frames, seeds) for k in range(variations)]
        if len(requests) > MAX_MOTIONS_PER_JOB or sum(r.frames for r in requests) > MAX_FRAMES_PER_JOB:
            raise invalid(f"a job may hold at most {MAX_MOTIONS_PER_JOB} motions and {MAX_FRAMES_PER_JOB} frames "
                          f"in all; split it into several requests")
        options = self.options(fields)
        # Only one-pass jobs merge: a short job must not wait for another's continuation passes, and a
        # cancelled job's rows then cost at most the rest of one pass.
        one_pass = all(request.frames <= self.model.max_frames for request in requests)
        key = json.dumps({name: getattr(options, name) for name in SAMPLING_FIELDS}) if one_pass else None
        return {"requests": requests, "options": options, "size": len(requests), "key": key}

    def _parse_segments(self, fields: dict) -> dict:
        """generate with `segments`: one motion of several prompts in a row (timeline prompt markers)."""
        from ..generation.generator import check_segments

        if "prompt" in fields or "prompts" in fields or "variations" in fields:
            raise invalid("`segments` replaces `prompt`, `prompts` and `variations`: give only one of them")
        segments = fields["segments"]
        if not isinstance(segments, list) or not segments or not all(isinstance(s, dict) for s in segments):
            raise invalid("`segments` must be a list of {prompt, seconds or frames} objects")
        pairs = []
        for segment in segments:
            frames = segment.get("frames", round(_number(segment, "seconds", None) * FPS)
                                 if "seconds" in segment else None)
            pairs.append((segment.get("prompt"), frames))
        try:
            checked = check_segments(pairs)
        except ValueError as exc:
            raise invalid(str(exc)) from None
        if sum(frames for _, frames in checked) > MAX_FRAMES_PER_JOB:
            raise invalid(f"a job may hold at most {MAX_FRAMES_PER_JOB} frames")
        return {"segments": checked, "seed": _integer(fields, "seed", 0, 0, 2 ** 62), "options": self.options(fields),
                "size": 1, "key": None}

    def _context(self, fields: dict, arrays: dict) -> np.ndarray:
        positions = arrays.get("context.positions")
        if positions is None or positions.ndim != 3 or tuple(positions.shape[1:]) != (22, 3):
            raise invalid("the context motion must be attached as `context.positions`, float32 (T, 22, 3)")
        if _number(fields, "context_fps", FPS) != FPS:
            raise invalid(f"the context runs at {fields['context_fps']} fps; resample it to {FPS:g} fps first")
        context = np.asarray(positions, dtype=np.float64)
        if not np.isfinite(context).all():
            raise invalid("the context motion contains NaN or infinite values")
        return context

    def parse_edit(self, fields: dict, arrays: dict) -> dict:
        context = self._context(fields, arrays)
        start = _integer(fields, "start", None, 0, len(context) - 1)
        end = _integer(fields, "end", None, start + 1, len(context))
        return {"context": context, "start": start, "end": end, "prompt": _prompt(fields.get("prompt")),
                "seed": _integer(fields, "seed", 0, 0, 2 ** 62), "blend": _integer(fields, "blend", 8, 0, 64),
                "options": self.options(fields)}

    def parse_extend(self, fields: dict, arrays: dict) -> dict:
        return {"context": self._context(fields, arrays), "frames": self._frames(fields),
                "prompt": _prompt(fields.get("prompt")), "seed": _integer(fields, "seed", 0, 0, 2 ** 62),
                "options": self.options(fields)}

    # ----------------------------------------------------------------------------- running
    def run(self, jobs: list[Job]) -> None:
        """Run one batch (several generate jobs, or one job of any kind) and answer each job.

        A job cancelled mid-batch is answered before the next transformer pass and its rows are
        dropped at the end, while the others run on; once none is left, GenerationCancelled stops the batch.
        """
        started = time.monotonic()
        progress_sent = -math.inf

        def live_jobs() -> list[Job]:
            """Answer the jobs cancelled since the last check, which so leave the batch; return the rest."""
            for job in jobs:
                if job.status == "running" and job.cancel_requested.is_set():
                    job.fail("cancelled", "cancelled by the client", status="cancelled")
            return [job for job in jobs if job.status == "running"]

        def progress(event):
            nonlocal progress_sent
            for job in jobs:
                job.stage, job.fraction = event.stage, event.fraction
            now = time.monotonic()
            if now - progress_sent < PROGRESS_INTERVAL:
                return
            progress_sent = now
            for job in jobs:
                if job.status == "running" and not job.cancel_requested.is_set():
                    job.send({"type": "progress", "stage": event.stage, "fraction": round(event.fraction, 4)})

        def cancel() -> bool:
            return not live_jobs()

        op, params = jobs[0].op, jobs[0].params
        if op == "generate" and "segments" in params:
            results = [self.generator.compose(params["segments"], params["seed"], params["options"],
                                              progress=progress, cancel=cancel)]
        elif op == "generate":
            requests = [request for job in jobs for request in job.params["requests"]]
            results = self.generator.generate(requests, params["options"], progress=progress, cancel=cancel)
        elif op == "edit":
            results = [self.generator.edit(params["context"], params["start"], params["end"], params["prompt"],
                                           params["seed"], params["options"], blend=params["blend"],
                                           progress=progress, cancel=cancel)]
        else:
            results = [self.generator.extend(params["context"], params["frames"], params["prompt"], params["seed"],
                                             params["options"], progress=progress, cancel=cancel)]
        live = live_jobs()  # also answers a job cancelled after the last pass
        for job in jobs:
            mine, results = results[:job.size], results[job.size:]
            if job in live:
                self._reply(job, mine, started)

    def _reply(self, job: Job, results, started: float) -> None:
        metas, arrays = [], {}
        for index, result in enumerate(results):
            meta, motion_arrays = encode_motion(self.motion(result), f"motions.{index}.")
            metas.append(meta)
            arrays.update(motion_arrays)
        job.status, job.fraction = "done", 1.0
        job.send({"type": "result", "motions": metas, "batch_jobs": job.batch_jobs,
                  "seconds": round(time.monotonic() - started, 4)}, arrays)

    def motion(self, result) -> dict:
        """A generator result as the motion of DESIGN.md §4 (rotations by IK from the positions)."""
        from ..motion.motion import Motion

        motion = Motion.from_positions(result.positions, fps=FPS)
        fields = {name: np.ascontiguousarray(getattr(motion, name), dtype=np.float32) for name in MOTION_ARRAYS}
        fields["foot_contacts"] = np.ascontiguousarray(motion.foot_contacts, dtype=np.uint8)
        return {**fields, "fps": FPS, "joint_names": motion.joint_names, "parents": motion.parents,
                "prompt": result.prompt, "seed": result.seed, "notes": list(result.notes),
                "metadata": {"model": self.model.name}}
