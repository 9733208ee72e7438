"""Text to motion with a loaded checkpoint: lengths, batching, long motions by continuation, editing.

The model works at 20 fps in lengths that are multiples of 4 frames, at most 196 frames per pass.
Longer motions are continued pass by pass from the last frames; edits regenerate a frame range of
a context motion with the context's tokens locked, then join the result to the untouched context.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import MoScaleModel
from ..model.quantizer import length_mask
from ..motion.features import extract_features, recover_from_ric
from .foot_contact import clean_feet
from .lengths import MAX_TOTAL_FRAMES, MIN_FRAMES, plan_frames
from .scales import SamplingOptions, ScaleProgress, sample_scales
from .splice import anchor, splice

MAX_BATCH = 32
CONTINUATION_CONTEXT = 96  # frames of the previous pass each continuation pass sees
DEFAULT_BLEND = 8


@dataclass
class MotionRequest:
    prompt: str
    frames: int
    seed: int = 0


@dataclass
class MotionResult:
    prompt: str
    seed: int
    positions: np.ndarray  # (T, 22, 3) model space, metres, Y up
    features: np.ndarray  # (T, 263) raw HumanML3D features (for generated clips; edits re-extract)
    notes: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return len(self.positions)


@dataclass
class Progress:
    stage: str
    fraction: float  # of this request's passes


def _features_of(positions: np.ndarray) -> np.ndarray:
    """Features (T, 263) for T poses: HumanML3D gives T - 1 transitions, the last one is repeated."""
    features = extract_features(positions, retarget=False).astype(np.float32)
    return np.concatenate([features, features[-1:]])


def _check_prompt(prompt) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string")
    return prompt.strip()


def check_segments(segments) -> list[tuple[str, int]]:
    """(prompt, frames) pairs of a composed motion, each at least MIN_FRAMES long; ValueError naming
    the segment that is wrong."""
    if not isinstance(segments, (list, tuple)) or not segments:
        raise ValueError("give at least one (prompt, frames) segment")
    checked = []
    for index, segment in enumerate(segments, start=1):
        if not isinstance(segment, (list, tuple)) or len(segment) != 2:
            raise ValueError(f"segment {index} must be a (prompt, frames) pair")
        prompt, frames = segment
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"segment {index} has no prompt")
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < MIN_FRAMES:
            raise ValueError(f"segment {index} ({prompt.strip()!r}) is {frames!r} frames; each prompt needs at least "
                             f"{MIN_FRAMES} frames ({MIN_FRAMES / 20:g} s)")
        checked.append((prompt.strip(), frames))
    total = sum(frames for _, frames in checked)
    if total > MAX_TOTAL_FRAMES:
        raise ValueError(f"the segments add up to {total} frames; at most {MAX_TOTAL_FRAMES} "
                         f"({MAX_TOTAL_FRAMES / 20:g} s) per request")
    return checked


class MotionGenerator:
    def __init__(self, model: MoScaleModel, text_encoder=None, device: str | torch.device | None = None,
                 precision: str = "fp32", foot_cleanup: bool = True):
        """precision "int8" runs the transformer's big linears as dynamic int8 (CPU only);
        foot_cleanup pins the feet the model predicts planted (see foot_contact.py)."""
        self.model = model
        self.foot_cleanup = foot_cleanup
        self.device = torch.device(device) if device is not None else next(model.transformer.parameters()).device
        self.text_encoder = text_encoder
        if precision == "int8":
            if self.device.type != "cpu":
                raise ValueError("the int8 path is CPU-only; use precision fp32 on a GPU")
            from ..model.int8 import quantize_int8

            model.transformer = quantize_int8(model.transformer)
        elif precision != "fp32":
            raise ValueError(f"precision must be fp32 or int8, not {precision!r}")

    # ----------------------------------------------------------------------------- public API
    def generate(self, requests: list[MotionRequest], options: SamplingOptions | None = None,
                 progress: Callable | None = None, cancel: Callable | None = None) -> list[MotionResult]:
        """Generate one motion per request; requests up to 196 frames share forward batches."""
        options = options or SamplingOptions()
        plans = [(_check_prompt(r.prompt), int(r.seed), *plan_frames(r.frames, self.model.unit_length))
                 for r in requests]
        first_frames = [min(frames, self.model.max_frames) for _, _, frames, _ in plans]
        results = []
        for begin in range(0, len(plans), MAX_BATCH):
            chunk = plans[begin:begin + MAX_BATCH]
            frames = first_frames[begin:begin + MAX_BATCH]
            features = self._sample_batch([p for p, _, _, _ in chunk], [s for _, s, _, _ in chunk], frames,
                                          options, progress=progress, cancel=cancel)
            for (prompt, seed, _, notes), clip in zip(chunk, features):
                results.append(MotionResult(prompt, seed, self._positions(clip), clip, list(notes)))
        for result, (prompt, seed, total, _) in zip(results, plans):
            if total > result.frames:
                extended = self.extend(result.positions, total - result.frames, prompt, seed, options,
                                       context_features=result.features, progress=progress, cancel=cancel)
                result.positions, result.features = extended.positions, extended.features
                result.notes.extend(extended.notes)
        return results

    def extend(self, context, frames: int, prompt: str, seed: int = 0, options: SamplingOptions | None = None,
               context_features: np.ndarray | None = None, blend: int = DEFAULT_BLEND,
               progress: Callable | None = None, cancel: Callable | None = None) -> MotionResult:
        """Continue a context motion (positions (T, 22, 3) or features (T, 263)) by `frames` frames."""
        options = options or SamplingOptions()
        prompt = _check_prompt(prompt)
        positions, features = self._context(context, context_features)
        if len(positions) < MIN_FRAMES:
            raise ValueError(f"the context needs at least {MIN_FRAMES} frames to continue from")
        wanted = int(frames)
        if wanted < 1 or len(positions) + wanted > MAX_TOTAL_FRAMES:
            raise ValueError(f"cannot extend by {frames} frames (1 to {MAX_TOTAL_FRAMES - len(positions)})")
        unit, max_frames = self.model.unit_length, self.model.max_frames
        pass_index = 0
        while wanted > 0:
            window = min(CONTINUATION_CONTEXT, len(positions)) // unit * unit
            new = min(math.ceil(wanted / unit) * unit, (max_frames - window) // unit * unit)
            source = features[-window:]
            decoded = self._sample_batch([prompt], [seed + 1000 * (pass_index + 1)], [window + new], options,
                                         sources=[(source, window, np.zeros(0, dtype=bool))],
                                         progress=progress, cancel=cancel)[0]
            take = min(new, wanted)
            generated = anchor(self._positions(decoded), window - 1, positions, len(positions) - 1)
            joined = np.concatenate([positions, generated[window:window + take]])
            full_generated = np.concatenate([positions[:len(positions) - window], generated[:window + take]])
            positions = splice(joined, full_generated, len(positions), len(joined), blend)
            features = np.concatenate([features, decoded[window:window + take]])
            wanted -= take
            pass_index += 1
        return MotionResult(prompt, seed, positions, features, [f"continued in {pass_index} passes"])

    def compose(self, segments: list[tuple[str, int]], seed: int = 0, options: SamplingOptions | None = None,
                progress: Callable | None = None, cancel: Callable | None = None) -> MotionResult:
        """One continuous motion of several prompts in a row, (prompt, frames) each: the first is
        generated, and each next one continues the motion so far with its own prompt (timeline prompt
        markers). Segment i uses seed + i."""
        segments = check_segments(segments)
        first_prompt, first_frames = segments[0]
        unit = self.model.unit_length
        request = MotionRequest(first_prompt, math.ceil(first_frames / unit) * unit, seed)
        result = self.generate([request], options, progress, cancel)[0]
        positions, features = result.positions[:first_frames], result.features[:first_frames]
        for index, (prompt, frames) in enumerate(segments[1:], start=1):
            continued = self.extend(positions, frames, prompt, seed + index, options, context_features=features,
                                    progress=progress, cancel=cancel)
            positions, features = continued.positions, continued.features
        prompts = " | ".join(prompt for prompt, _ in segments)
        return MotionResult(prompts, seed, positions, features, [f"{len(segments)} prompts in a row"])

    def edit(self, context, start: int, end: int, prompt: str, seed: int = 0,
             options: SamplingOptions | None = None, context_features: np.ndarray | None = None,
             blend: int = DEFAULT_BLEND, progress: Callable | None = None,
             cancel: Callable | None = None) -> MotionResult:
        """Regenerate frames [start, end) of a context motion with a prompt; start 0 or end T for
        prefix/suffix. Frames outside [start, end) are returned exactly as given."""
        options = options or SamplingOptions()
        prompt = _check_prompt(prompt)
        positions, features = self._context(context, context_features)
        total = len(positions)
        start, end = int(start), int(end)
        if not 0 <= start < end <= total:
            raise ValueError(f"edit range [{start}, {end}) is outside the motion's {total} frames")
        if start == 0 and end == total:
            raise ValueError("the edit range covers the whole motion: generate a new one instead")
        unit = self.model.unit_length
        window = min(total, self.model.max_frames) // unit * unit
        if window < MIN_FRAMES:
            raise ValueError(f"the context needs at least {MIN_FRAMES} frames")
        if end - start > window - 2 * unit:
            raise ValueError(f"edit range of {end - start} frames is too long: at most {window - 2 * unit} "
                             f"frames can be regenerated in one edit")
        first = min(max(start - (window - (end - start)) // 2, 0), total - window)
        tokens = window // unit
        fine = np.zeros(tokens, dtype=bool)
        fine[(start - first) // unit:min(tokens, math.ceil((end - first) / unit))] = True
        decoded = self._sample_batch([prompt], [seed], [window], options,
                                     sources=[(features[first:first + window], window, fine)],
                                     progress=progress, cancel=cancel)[0]
        generated_window = self._positions(decoded)
        if start > 0:
            generated_window = anchor(generated_window, start - 1 - first, positions, start - 1)
        else:
            generated_window = anchor(generated_window, end - first, positions, end)
        generated = positions.astype(np.float64).copy()
        generated[first:first + window] = generated_window
        edited = splice(positions, generated, start, end, blend)
        return MotionResult(prompt, seed, edited, _features_of(edited))

    # ----------------------------------------------------------------------------- internals
    def _context(self, context, context_features):
        """Positions and features of a context given as positions (T, 22, 3) or features (T, 263)."""
        array = np.asarray(context, dtype=np.float64)
        if not np.isfinite(array).all():
            raise ValueError("the context motion contains NaN or infinite values")
        if array.ndim == 3 and array.shape[1:] == (22, 3):
            positions = array
            features = _features_of(array) if context_features is None else np.asarray(context_features)
        elif array.ndim == 2 and array.shape[1] == self.model.tokenizer.config.dim_pose:
            features, positions = array, recover_from_ric(array.astype(np.float32)).astype(np.float64)
        else:
            raise ValueError(f"context must be joint positions (T, 22, 3) or features (T, 263), got {array.shape}")
        if len(features) != len(positions) or not np.isfinite(features).all():
            raise ValueError("context features and positions disagree in length or contain NaN")
        return positions, features.astype(np.float32)

    def _positions(self, features: np.ndarray) -> np.ndarray:
        """Joint positions of generated features, with the feet cleaned up unless turned off."""
        positions = recover_from_ric(features)
        return clean_feet(positions, features) if self.foot_cleanup else positions

    def _text(self, prompts):
        if self.text_encoder is None:
            from ..text.encoders import load_text_encoder

            self.text_encoder = load_text_encoder(self.model.text_encoder, self.device,
                                                  expected_dim=self.model.transformer.config.text_dim)
        hidden, mask = self.text_encoder.encode(prompts)
        return hidden.to(self.device), mask.to(self.device)

    @torch.inference_mode()
    def _sample_batch(self, prompts, seeds, frames, options, sources=None, progress=None, cancel=None):
        """One pass for a batch. sources: per row (raw features, source frames, fine edit mask) to edit/extend.

        Returns raw features (B, frames_b, 263) as a list of numpy arrays.
        """
        model, transformer, tokenizer = self.model, self.model.transformer, self.model.tokenizer
        hidden, mask = self._text(prompts)
        batch = len(prompts)
        with self._autocast():
            context = transformer.text_context(hidden, mask)
            null_context = transformer.text_context(hidden, mask, null_text=torch.ones(batch, dtype=torch.bool,
                                                                                       device=self.device))
        frame_lengths = torch.tensor(frames, device=self.device)
        latent_lengths = frame_lengths // model.unit_length
        source_ids = editable = None
        if sources is not None:
            source_ids, editable = self._tokenize_sources(sources, latent_lengths)
        generators = [torch.Generator(self.device).manual_seed(int(s)) for s in seeds]
        report = None
        if progress is not None:
            def report(event: ScaleProgress):
                progress(Progress(f"scale {event.scale + 1}/{len(transformer.patch_sizes)}, "
                                  f"step {event.step + 1}/{event.steps_in_scale}",
                                  event.passes_done / event.passes_total))
        with self._autocast():
            _, f_hat = sample_scales(transformer, tokenizer.quantizer.scale_contribution, context, null_context,
                                     latent_lengths, options, generators, source_ids=source_ids,
                                     editable=editable, progress=report, cancel=cancel)
            decoded = tokenizer.decode_latent(f_hat.float(), latent_lengths).float()
        decoded = decoded.cpu().numpy()
        return [model.denormalize(decoded[b, :n]) for b, n in enumerate(frames)]

    def _tokenize_sources(self, sources, latent_lengths):
        model, tokenizer = self.model, self.model.tokenizer
        max_frames, scales = model.max_frames, tokenizer.config.scales
        motion = np.zeros((len(sources), max_frames, tokenizer.config.dim_pose), dtype=np.float32)
        source_frames = []
        for b, (features, frames, _) in enumerate(sources):
            motion[b, :frames] = model.normalize(features[:frames])
            source_frames.append(frames)
        source_frames = torch.tensor(source_frames, device=self.device)
        source_ids, _ = tokenizer.tokenize(torch.from_numpy(motion).to(self.device), source_frames)
        editable = []
        for k, scale in enumerate(scales):
            size = source_ids[k].shape[1]
            rows = []
            for b, (_, _, fine) in enumerate(sources):
                n_fine, n_k = int(latent_lengths[b]), int(latent_lengths[b]) // scale
                row = torch.zeros(size, dtype=torch.bool)
                if fine.any() and n_k > 0:
                    padded = np.zeros(n_fine, dtype=np.float32)
                    padded[:len(fine)] = fine[:n_fine]
                    coarse = F.interpolate(torch.from_numpy(padded)[None, None], size=n_k, mode="area")[0, 0]
                    row[:n_k] = coarse > 0.5
                rows.append(row)
            target_valid = length_mask(latent_lengths.cpu() // scale, size)
            extension = (source_ids[k].cpu() < 0) & target_valid
            editable.append((torch.stack(rows) | extension).to(self.device))
        return source_ids, editable

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()
