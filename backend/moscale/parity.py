"""`moscale parity FIXTURE_DIR`: prove that imported official weights compute what the authors' code computes.

A fixture folder holds an official-format checkpoint, inputs and the reference outputs (see the
fixture README). Every check compares our implementation against them: indices exactly, floats
within 1e-4 relative (max |a - b| / max |b|).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .generation.scales import SamplingOptions, sample_scales
from .model.loading import build_tokenizer, build_transformer
from .motion.features import recover_from_ric
from .official import load_official

FLOAT_TOLERANCE = 1e-4


@dataclass
class Check:
    name: str
    error: float  # relative error for floats, mismatch count for indices
    exact: bool

    @property
    def passed(self) -> bool:
        return self.error == 0 if self.exact else self.error <= FLOAT_TOLERANCE

    def line(self) -> str:
        status = "ok  " if self.passed else "FAIL"
        what = f"{int(self.error)} mismatches" if self.exact else f"max rel error {self.error:.3e}"
        return f"{status} {self.name:<28} {what}"


def relative_error(ours, reference) -> float:
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if ours.shape != reference.shape:
        return float("inf")
    scale = np.abs(reference).max()
    return float(np.abs(ours - reference).max() / (scale if scale > 0 else 1.0))


def mismatches(ours, reference) -> float:
    ours, reference = np.asarray(ours), np.asarray(reference)
    return float("inf") if ours.shape != reference.shape else float((ours != reference).sum())


def _valid_frames(array, lengths):
    """Concatenate each clip's first `length` frames (the rest is undefined padding)."""
    return np.concatenate([array[b, :n] for b, n in enumerate(lengths)])


def run_parity(fixture: Path) -> list[Check]:
    fixture = Path(fixture)
    tok_cfg, tr_cfg, tok_state, tr_state, mean, std, _ = load_official(fixture)
    tokenizer = build_tokenizer(tok_cfg, tok_state).eval()
    transformer = build_transformer(tr_cfg, tr_state, tokenizer).eval()
    inputs, expected = np.load(fixture / "inputs.npz"), np.load(fixture / "expected.npz")
    settings = json.loads((fixture / "settings.json").read_text())
    lengths = inputs["lengths"].astype(np.int64)
    frame_lengths = torch.from_numpy(lengths)
    latent_lengths = frame_lengths // tok_cfg.unit_length
    checks = []

    with torch.no_grad():
        motion = (inputs["motion_raw"] - mean) / std
        motion[np.arange(motion.shape[1])[None, :] >= lengths[:, None]] = 0
        ids, _ = tokenizer.tokenize(torch.from_numpy(motion).float(), frame_lengths)
        for k, scale_ids in enumerate(ids):
            checks.append(Check(f"vq_ids_scale{k}", mismatches(scale_ids.numpy(), expected[f"vq_ids_scale{k}"]), True))
        decoded = tokenizer.decode_indices(ids, latent_lengths).numpy()
        checks.append(Check("vq_decoded_norm", relative_error(
            _valid_frames(decoded, lengths), _valid_frames(expected["vq_decoded_norm"], lengths)), False))
        checks.append(Check("vq_decoded_raw", relative_error(
            _valid_frames(decoded * std + mean, lengths), _valid_frames(expected["vq_decoded_raw"], lengths)), False))

        gen_ids, passes = _generate(tokenizer, transformer, inputs, latent_lengths, settings)
        again, _ = _generate(tokenizer, transformer, inputs, latent_lengths, settings)
        checks.append(Check("deterministic_generation",
                            float(sum((a != b).sum().item() for a, b in zip(gen_ids, again))), True))
        n_passes = int(settings.get("npasses", len(passes)))
        checks.append(Check("pass_count", float(abs(len(passes) - n_passes)), True))
        for i, raw in enumerate(passes[:n_passes]):
            reference = expected[f"gen_logits_pass{i:02d}"]
            reference = reference[:, reference.shape[1] - raw.shape[1]:]
            checks.append(Check(f"gen_logits_pass{i:02d}", relative_error(raw, reference), False))
        for k, scale_ids in enumerate(gen_ids):
            checks.append(Check(f"gen_ids_scale{k}", mismatches(scale_ids.numpy(), expected[f"gen_ids_scale{k}"]), True))
        gen_decoded = tokenizer.decode_indices(gen_ids, latent_lengths).numpy()
        checks.append(Check("gen_decoded_norm", relative_error(
            _valid_frames(gen_decoded, lengths), _valid_frames(expected["gen_decoded_norm"], lengths)), False))
        gen_raw = gen_decoded * std + mean
        checks.append(Check("gen_decoded_raw", relative_error(
            _valid_frames(gen_raw, lengths), _valid_frames(expected["gen_decoded_raw"], lengths)), False))

    joints = recover_from_ric(gen_raw.astype(np.float32))
    checks.append(Check("gen_joints", relative_error(
        _valid_frames(joints, lengths), _valid_frames(expected["gen_joints"], lengths)), False))
    input_joints = recover_from_ric(inputs["motion_raw"].astype(np.float32))
    checks.append(Check("input_joints", relative_error(
        _valid_frames(input_joints, lengths), _valid_frames(expected["input_joints"], lengths)), False))
    return checks


def _generate(tokenizer, transformer, inputs, latent_lengths, settings):
    hidden = torch.from_numpy(inputs["text_hidden"]).float()
    mask = torch.from_numpy(inputs["text_mask"]).bool()
    batch = hidden.shape[0]
    context = transformer.text_context(hidden, mask)
    null_context = transformer.text_context(hidden, mask, null_text=torch.ones(batch, dtype=torch.bool))
    n_scales = len(transformer.patch_sizes)
    reference_weights = [float(settings["cfg_scale"]) - 0.25 * (k - 1) for k in range(n_scales)]
    options = SamplingOptions(
        guidance_per_scale=reference_weights, schedule=[int(s) for s in settings["schedule"]],
        temperature=float(settings["temperature"]), top_p=float(settings.get("top_p", 0.9)),
        top_k=int(settings.get("top_k", 0)),
    )
    passes = []
    generators = [torch.Generator().manual_seed(b) for b in range(batch)]
    ids, _ = sample_scales(
        transformer, tokenizer.quantizer.scale_contribution, context, null_context, latent_lengths, options,
        generators, on_pass=lambda raw: passes.append(raw.numpy().copy()),
    )
    return ids, passes
