"""`moscale eval`: a checkpoint against the real motions of a split, in one table.

Per repeat, the split's clips are shuffled into batches of 32 (the last incomplete batch dropped);
each clip contributes a random caption and its motion at its own length (floored to a multiple of
4, at most 196 frames, randomly cropped), and the model generates one motion for that caption at
that length. The ground-truth row scores the real crops exactly as the model row scores the
generations; FID of both rows is taken against a second, independently cropped pass over the same
clips (so the ground truth's FID shows the floor that crop noise alone gives).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..data.humanml3d import FPS, load_split
from ..generation.generator import MotionGenerator, MotionRequest
from ..generation.scales import SamplingOptions
from ..motion.features import recover_from_ric
from ..text.encoders import load_text_encoder
from .evaluator import load_evaluator
from .metrics import R_PRECISION_BATCH, diversity, fid, interval95, mm_dist, multimodality, r_precision
from .physical import physical_metrics, tokenizer_mpjpe

GROUND_TRUTH = "ground truth"

# (key, label, decimals) in table order; a row without a key shows a dash.
METRICS = [
    ("r_precision_top1", "R-precision top-1 ↑", 3),
    ("r_precision_top2", "R-precision top-2 ↑", 3),
    ("r_precision_top3", "R-precision top-3 ↑", 3),
    ("fid", "FID ↓", 3),
    ("mm_dist", "MM-Dist ↓", 3),
    ("diversity", "Diversity →", 3),
    ("multimodality", "MultiModality ↑", 3),
    ("foot_skate_ratio", "Foot-skate ratio ↓", 4),
    ("foot_skate_ratio_raw", "Foot-skate ratio before foot cleanup ↓", 3),
    ("penetration_mean_m", "Ground penetration, mean (m) ↓", 4),
    ("penetration_worst_m", "Ground penetration, worst (m) ↓", 3),
    ("floating_ratio", "Floating ratio ↓", 3),
    ("jitter_m_s3", "Jitter, mean jerk (m/s³)", 1),
    ("tokenizer_mpjpe_mm", "Tokenizer MPJPE, root-aligned (mm) ↓", 1),
    ("tokenizer_global_mpjpe_mm", "Tokenizer MPJPE, global (mm) ↓", 1),
]


def _crop(features: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    start = int(rng.integers(0, len(features) - length + 1))
    return features[start:start + length]


def _generate(generator: MotionGenerator, prompts: list[str], lengths: list[int], seeds: list[int],
              options: SamplingOptions, log, what: str) -> list:
    results = []
    for begin in range(0, len(prompts), R_PRECISION_BATCH):
        end = begin + R_PRECISION_BATCH
        requests = [MotionRequest(p, n, s) for p, n, s in zip(prompts[begin:end], lengths[begin:end], seeds[begin:end])]
        results.extend(generator.generate(requests, options))
        log(f"{what}: {len(results)}/{len(prompts)} motions")
    return results


def _embedding_metrics(text: np.ndarray, motion: np.ndarray, reference: np.ndarray, rng) -> dict:
    top = r_precision(text, motion)
    return {"r_precision_top1": top[0], "r_precision_top2": top[1], "r_precision_top3": top[2],
            "fid": fid(reference, motion), "mm_dist": mm_dist(text, motion), "diversity": diversity(motion, rng=rng)}


def _one_repeat(repeat: int, clips, model, generator, evaluator, text_encoder, options, mm_batches: int,
                mm_generations: int, seed: int, log) -> dict:
    rng = np.random.default_rng([seed, repeat])
    count = len(clips) // R_PRECISION_BATCH * R_PRECISION_BATCH
    order = rng.permutation(len(clips))[:count]
    unit, max_frames = model.unit_length, model.max_frames
    lengths = [min(len(clips[i].features), max_frames) // unit * unit for i in order]
    captions = [clips[i].captions[rng.integers(len(clips[i].captions))].text for i in order]
    real = [_crop(clips[i].features, n, rng) for i, n in zip(order, lengths)]
    reference = [_crop(clips[i].features, n, rng) for i, n in zip(order, lengths)]
    seeds = [seed * 1_000_000 + repeat * 100_000 + k for k in range(count)]
    generated = _generate(generator, captions, lengths, seeds, options, log, f"repeat {repeat + 1}")

    text_embeddings = evaluator.embed_captions(text_encoder, captions)
    reference_embeddings = evaluator.embed_clips(reference)
    rows = {
        GROUND_TRUTH: _embedding_metrics(text_embeddings, evaluator.embed_clips(real), reference_embeddings, rng),
        "model": _embedding_metrics(text_embeddings, evaluator.embed_clips([g.features for g in generated]),
                                    reference_embeddings, rng),
    }
    rows[GROUND_TRUTH].update(physical_metrics([recover_from_ric(clip) for clip in real], FPS))
    rows["model"].update(physical_metrics([g.positions for g in generated], FPS))
    if generator.foot_cleanup:
        raw = [recover_from_ric(g.features) for g in generated]
        rows["model"]["foot_skate_ratio_raw"] = physical_metrics(raw, FPS)["foot_skate_ratio"]
    rows["model"].update({f"tokenizer_{k}": v for k, v in tokenizer_mpjpe(model, real).items()})

    prompts = captions[:mm_batches * R_PRECISION_BATCH]
    if prompts and mm_generations >= 2:
        repeated = [p for p in prompts for _ in range(mm_generations)]
        mm_lengths = [n for n in lengths[:len(prompts)] for _ in range(mm_generations)]
        mm_seeds = [seeds[-1] + 1 + k for k in range(len(repeated))]
        results = _generate(generator, repeated, mm_lengths, mm_seeds, options, log,
                            f"repeat {repeat + 1} multimodality")
        embeddings = evaluator.embed_clips([r.features for r in results])
        rows["model"]["multimodality"] = multimodality(embeddings.reshape(len(prompts), mm_generations, -1), rng=rng)
    return rows


def run_evaluation(checkpoint_dir: Path, data_dir: Path, evaluator_dir: Path, split: str = "test", repeats: int = 3,
                   out_json: Path | None = None, out_markdown: Path | None = None,
                   options: SamplingOptions | None = None, mm_batches: int = 1, mm_generations: int = 10,
                   max_clips: int | None = None, seed: int = 0, text_encoder=None,
                   device: str | torch.device = "cpu", foot_cleanup: bool = True, log=print) -> dict:
    """Evaluate a checkpoint on a split of a HumanML3D-layout folder; returns the report dict and
    writes it as JSON and a Markdown table when paths are given.

    mm_batches × 32 prompts get mm_generations generations each for MultiModality (the reference
    uses 3 × 32 prompts and 30 generations). max_clips evaluates a random subset of the split.
    text_encoder: a loaded encoder matching the evaluator's spec (loaded from it when None); the
    generator shares it when the checkpoint names the same encoder. The text-motion metrics embed
    the model's own features; the physical ones measure the joint positions users get (after foot
    cleanup unless foot_cleanup is False).
    """
    started = time.time()
    options = options or SamplingOptions()
    model = load_checkpoint(checkpoint_dir, device)
    evaluator = load_evaluator(evaluator_dir, device)
    if text_encoder is None:
        text_encoder = load_text_encoder(evaluator.text_encoder, device, expected_dim=evaluator.config.text_dim)
    same_encoder = (model.text_encoder.kind, model.text_encoder.path) == (evaluator.text_encoder.kind,
                                                                           evaluator.text_encoder.path)
    generator_text = text_encoder if same_encoder else load_text_encoder(
        model.text_encoder, device, expected_dim=model.transformer.config.text_dim)
    generator = MotionGenerator(model, generator_text, device, foot_cleanup=foot_cleanup)

    clips = load_split(data_dir, split)
    if max_clips is not None and max_clips < len(clips):
        keep = np.sort(np.random.default_rng(seed).permutation(len(clips))[:max_clips])
        clips = [clips[i] for i in keep]
    if len(clips) < R_PRECISION_BATCH:
        raise ValueError(f"split {split} of {data_dir} has {len(clips)} clips; evaluation needs at least "
                         f"{R_PRECISION_BATCH} (one R-precision batch)")
    log(f"evaluating {model.name} on {len(clips)} {split} clips, {repeats} repeats")

    per_repeat = []
    with torch.inference_mode():
        for repeat in range(repeats):
            per_repeat.append(_one_repeat(repeat, clips, model, generator, evaluator, text_encoder, options,
                                          mm_batches, mm_generations, seed, log))
    clips_per_repeat = len(clips) // R_PRECISION_BATCH * R_PRECISION_BATCH
    rows = {}
    for row, column in ((GROUND_TRUTH, GROUND_TRUTH), ("model", model.name)):
        rows[column] = {}
        for key, _, _ in METRICS:
            values = [float(r[row][key]) for r in per_repeat if key in r[row]]
            if values:
                mean, interval = interval95(values)
                rows[column][key] = {"mean": mean, "interval": interval, "values": values}
    report = {
        "model": model.name, "checkpoint": str(checkpoint_dir), "evaluator": str(evaluator_dir),
        "data_dir": str(data_dir), "split": split, "repeats": repeats,
        "clips_per_repeat": clips_per_repeat,
        "multimodality": {"prompts": min(mm_batches * R_PRECISION_BATCH, clips_per_repeat),
                          "generations": mm_generations},
        "embedding_scale": evaluator.config.embedding_scale,
        "sampling": dataclasses.asdict(options), "foot_cleanup": foot_cleanup, "seed": seed, "rows": rows,
        "wall_seconds": round(time.time() - started, 1),
    }
    if out_json is not None:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(report, indent=1))
    if out_markdown is not None:
        Path(out_markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(out_markdown).write_text(markdown_table(report))
    log(f"evaluation done in {report['wall_seconds']:.0f} s")
    return report


def markdown_table(report: dict) -> str:
    """The report as Markdown: one metric per line, mean ± 95 % interval per column."""
    columns = list(report["rows"])
    sampling = report["sampling"]
    lines = [
        f"# Evaluation of {report['model']} on the {report['split']} split",
        "",
        f"{report['repeats']} repeats of {report['clips_per_repeat']} clips (batches of 32), mean ± 95 % interval "
        f"(1.96·std/√n). MultiModality: {report['multimodality']['prompts']} prompts × "
        f"{report['multimodality']['generations']} generations. Sampling: guidance {sampling['guidance']}, "
        f"schedule {sampling['schedule']}, temperature {sampling['temperature']}, top-p {sampling['top_p']}. "
        f"Physical metrics: on the joint positions delivered, foot cleanup {'on' if report.get('foot_cleanup') else 'off'}.",
        "",
        f"Embedding metrics come from our own retrieval evaluator (unit embeddings × {report['embedding_scale']:g}), "
        "not from Guo et al.'s: compare the columns with each other, not with published numbers.",
        "",
        "| Metric | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for key, label, decimals in METRICS:
        cells = []
        for column in columns:
            value = report["rows"][column].get(key)
            cells.append("—" if value is None
                         else f"{value['mean']:.{decimals}f} ± {value['interval']:.{decimals}f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
