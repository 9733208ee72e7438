"""Generation benchmark: per-stage times, motions/s, FLOPs per motion and the share of the matmul rate achieved.

The share matters more than the raw time: at the paper size the work is dominated by matrix
multiplies, so a run far below the machine's own matmul rate (measured here, in the same process
and thread count) points at overhead worth removing, and a run near it can only get faster by doing
less work (fewer passes, int8, a smaller model).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode

from .generation.scales import SamplingOptions, sample_scales
from .model.config import PRESETS, TokenizerConfig, TransformerConfig
from .model.hrvqvae import HRVQVAE
from .model.int8 import int8_agreement, quantize_int8
from .model.loading import build_tokenizer, build_transformer
from .model.transformer import MoScaleTransformer
from .motion.features import recover_from_ric
from .motion.motion import Motion

FRAMES = 196
PROMPT = "a person walks forward, turns around and waves with the right hand"


@dataclass
class BatchTiming:
    batch_size: int
    stages: dict[str, float]  # seconds per batch (median over repeats), in pipeline order

    @property
    def seconds(self) -> float:
        return sum(self.stages.values())

    @property
    def motions_per_second(self) -> float:
        return self.batch_size / self.seconds


@dataclass
class BenchReport:
    model: str
    parameters: int  # transformer parameters
    precision: str
    schedule: list[int]
    guidance: float
    device: str
    threads: int
    repeats: int
    flops: dict[str, float]  # per motion at batch 1, fp32-equivalent: text encoder (if any), generation, decode
    matmul_flops_per_second: float
    batches: list[BatchTiming]
    ik_seconds: float  # recover_from_ric + IK of one motion
    agreement: dict | None = None  # int8 vs fp32, see model.int8.int8_agreement
    stage_names: list[str] = field(default_factory=list)

    @property
    def flops_per_motion(self) -> float:
        return sum(self.flops.values())

    def achieved_flops_per_second(self, timing: BatchTiming) -> float:
        return self.flops_per_motion * timing.motions_per_second

    def efficiency(self, timing: BatchTiming) -> float:
        return self.achieved_flops_per_second(timing) / self.matmul_flops_per_second


def run_bench(models="paper", schedule=(1, 2, 5, 10), batch_sizes=(1, 4, 16), precision: str = "fp32",
              device: str = "cpu", repeats: int = 3, guidance: float = 5.0, text_encoder=None,
              agreement_batch: int = 4, seed: int = 0) -> BenchReport:
    """Time generation of 196-frame motions at each batch size.

    models: a preset name ("paper", "small", "tiny"), a (TokenizerConfig, TransformerConfig) pair, or a
    (tokenizer, transformer) pair of built modules (e.g. a loaded checkpoint). Random weights are fine:
    the cost does not depend on them. Without a text encoder the text is fixed random hidden states.
    agreement_batch: batch of the int8-vs-fp32 check (0 skips it; only for precision "int8").
    """
    if precision not in ("fp32", "int8"):
        raise ValueError(f"precision must be fp32 or int8, not {precision!r}")
    if precision == "int8" and torch.device(device).type != "cpu":
        raise ValueError("the int8 path is CPU-only; use precision fp32 on a GPU")
    name, tokenizer, fp32 = _resolve_models(models, text_encoder)
    tokenizer, fp32 = tokenizer.to(device).eval(), fp32.to(device).eval()
    if text_encoder is not None:
        text_encoder = text_encoder.to(device)
        if text_encoder.dim != fp32.config.text_dim:
            raise ValueError(f"text encoder width {text_encoder.dim} does not match the transformer's "
                             f"text_dim {fp32.config.text_dim}")
    transformer = quantize_int8(fp32) if precision == "int8" else fp32
    options = SamplingOptions(guidance=guidance, schedule=list(schedule))
    run = _Pipeline(tokenizer, transformer, options, text_encoder, device, seed)

    with torch.inference_mode():
        flops = _count_flops(_Pipeline(tokenizer, fp32, options, text_encoder, device, seed))
        batches = []
        for batch_size in batch_sizes:
            run(batch_size)  # warm-up: allocator, kernel selection, first-call paths
            runs = [run(batch_size) for _ in range(repeats)]
            stages = {stage: statistics.median(r[stage] for r in runs) for stage in runs[0]}
            batches.append(BatchTiming(batch_size, stages))
        ik_seconds = _time_ik(run.last_features[0])
        agreement = None
        if precision == "int8" and agreement_batch:
            context, null_context, lengths = run.contexts(*run.text(agreement_batch), fp32)
            agreement = int8_agreement(fp32, transformer, tokenizer.quantizer.scale_contribution, context,
                                       null_context, lengths, options, seed)
        matmul = matmul_flops_per_second(device)

    return BenchReport(
        model=name, parameters=sum(p.numel() for p in fp32.parameters()), precision=precision,
        schedule=list(schedule), guidance=guidance, device=str(device), threads=torch.get_num_threads(),
        repeats=repeats, flops=flops, matmul_flops_per_second=matmul, batches=batches, ik_seconds=ik_seconds,
        agreement=agreement, stage_names=list(batches[0].stages) if batches else [],
    )


def _resolve_models(models, text_encoder) -> tuple[str, HRVQVAE, MoScaleTransformer]:
    if isinstance(models, str):
        if models not in PRESETS:
            raise ValueError(f"unknown model preset {models!r}; expected one of {sorted(PRESETS)}")
        configs = PRESETS[models]() if text_encoder is None else PRESETS[models](text_dim=text_encoder.dim)
        tokenizer = build_tokenizer(configs[0])
        return models, tokenizer, build_transformer(configs[1], None, tokenizer)
    first, second = models
    if isinstance(first, TokenizerConfig) and isinstance(second, TransformerConfig):
        tokenizer = build_tokenizer(first)
        return "custom config", tokenizer, build_transformer(second, None, tokenizer)
    if isinstance(first, HRVQVAE) and isinstance(second, MoScaleTransformer):
        return "given model", first, second
    raise TypeError("models must be a preset name, a (TokenizerConfig, TransformerConfig) pair or a "
                    "(HRVQVAE, MoScaleTransformer) pair")


class _Pipeline:
    """One timed generation: text, text context, every scale's passes, decoding."""

    def __init__(self, tokenizer, transformer, options, text_encoder, device, seed):
        self.tokenizer, self.transformer, self.options = tokenizer, transformer, options
        self.text_encoder, self.device, self.seed = text_encoder, torch.device(device), seed
        self.calls = 0
        self.last_features = None

    def text(self, batch_size):
        if self.text_encoder is not None:
            # distinct prompts on every call, or the encoder's cache would time a dictionary lookup
            self.calls += 1
            return self.text_encoder.encode([f"{PROMPT} {self.calls}.{b}" for b in range(batch_size)])
        generator = torch.Generator().manual_seed(self.seed)
        config = self.transformer.config
        hidden = torch.randn(batch_size, config.text_max_length, config.text_dim, generator=generator)
        return hidden.to(self.device), torch.ones(hidden.shape[:2], dtype=torch.bool, device=self.device)

    def contexts(self, hidden, mask, transformer=None):
        """Conditional and null-text contexts plus full-length latent lengths."""
        transformer = transformer or self.transformer
        batch_size = hidden.shape[0]
        context = transformer.text_context(hidden, mask)
        null_context = transformer.text_context(hidden, mask, torch.ones(batch_size, dtype=torch.bool,
                                                                         device=self.device))
        lengths = torch.full((batch_size,), FRAMES // self.tokenizer.config.unit_length, device=self.device)
        return context, null_context, lengths

    def generate(self, context, null_context, lengths, progress=None):
        generators = [torch.Generator(self.device).manual_seed(self.seed + b) for b in range(lengths.shape[0])]
        _, f_hat = sample_scales(self.transformer, self.tokenizer.quantizer.scale_contribution, context,
                                 null_context, lengths, self.options, generators, progress=progress)
        return f_hat

    def __call__(self, batch_size) -> dict[str, float]:
        stages = {}
        clock = _Clock(self.device)
        hidden, mask = self.text(batch_size)
        text_seconds = clock.lap()
        if self.text_encoder is not None:
            stages["text encoder"] = text_seconds
        context, null_context, lengths = self.contexts(hidden, mask)
        stages["text context"] = clock.lap()

        def progress(p):
            if p.step == p.steps_in_scale - 1:
                passes = f"{p.steps_in_scale} pass" + ("es" if p.steps_in_scale > 1 else "")
                stages[f"scale {p.scale} ({passes})"] = clock.lap()

        f_hat = self.generate(context, null_context, lengths, progress)
        self.last_features = self.tokenizer.decode_latent(f_hat, lengths)
        stages["decode"] = clock.lap()
        return stages


class _Clock:
    """Lap timer that waits for the device, so that each lap holds its own stage's work."""

    def __init__(self, device):
        self.device = device
        self.last = self.now()

    def now(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def lap(self) -> float:
        now = self.now()
        elapsed, self.last = now - self.last, now
        return elapsed


def _sdpa_cpu_flops(query, key, value, *args, out_shape=None, **kwargs):
    """FlopCounterMode knows the CUDA attention kernels only; q @ k^T and p @ v are 2 * 2 * B H Lq Lk d."""
    batch, heads, q_len, dim = query
    return 4 * batch * heads * q_len * key[-2] * dim


def _count_flops(pipeline: _Pipeline) -> dict[str, float]:
    """FLOPs of one motion at batch 1; run on the fp32 model, as FlopCounterMode does not see quantized kernels."""
    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops}
    counts = {}
    # FlopCounterMode hooks every module input that requires grad and fails on the grad-less views
    # of parameters made under inference_mode, so the parameters are frozen while counting.
    trainable = [p for p in (*pipeline.tokenizer.parameters(), *pipeline.transformer.parameters()) if p.requires_grad]
    for parameter in trainable:
        parameter.requires_grad_(False)
    try:
        with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
            hidden, mask = pipeline.text(1)
        if pipeline.text_encoder is not None:
            counts["text encoder"] = counter.get_total_flops()
        with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
            context, null_context, lengths = pipeline.contexts(hidden, mask)
            f_hat = pipeline.generate(context, null_context, lengths)
        counts["generation"] = counter.get_total_flops()
        with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
            pipeline.tokenizer.decode_latent(f_hat, lengths)
        counts["decode"] = counter.get_total_flops()
    finally:
        for parameter in trainable:
            parameter.requires_grad_(True)
    return counts


def _time_ik(features) -> float:
    """recover_from_ric + IK of one motion: what turns generated features into a keyframable motion."""
    features = features.float().cpu().numpy()
    start = time.perf_counter()
    Motion.from_positions(recover_from_ric(features))
    return time.perf_counter() - start


def matmul_flops_per_second(device="cpu", sizes=(1024, 2048), repeats: int = 5) -> float:
    """Best fp32 square-matmul rate on this device and thread count: the ceiling the model is measured against."""
    device = torch.device(device)
    clock = _Clock(device)
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        a @ b
        for _ in range(repeats):
            clock.lap()
            a @ b
            best = max(best, 2 * n**3 / clock.lap())
    return best


def format_report(report: BenchReport) -> str:
    """A plain-text table: one column per batch size, one row per stage, then throughput and efficiency."""
    giga = 1e9
    lines = [
        f"MoScale bench: {report.model} ({report.parameters / 1e6:.1f} M transformer parameters), "
        f"{report.precision}, schedule {report.schedule}, guidance {report.guidance:g}, {FRAMES} frames",
        f"device {report.device}, {report.threads} threads, median of {report.repeats} runs after one warm-up",
        "FLOPs per motion (fp32-equivalent, batch 1): " + f"{report.flops_per_motion / giga:.1f} G = "
        + " + ".join(f"{stage} {count / giga:.1f} G" for stage, count in report.flops.items()),
        f"fp32 matmul rate: {report.matmul_flops_per_second / giga:.1f} GFLOP/s",
        "",
    ]
    label_width = max([len(s) for s in report.stage_names] + [30]) + 2
    header = "seconds per batch".ljust(label_width) + "".join(f"B={t.batch_size}".rjust(10) for t in report.batches)
    lines += [header, "-" * len(header)]

    def row(label, values, fmt):
        lines.append(label.ljust(label_width) + "".join(format(v, fmt).rjust(10) for v in values))

    for stage in report.stage_names:
        row(stage, [t.stages[stage] for t in report.batches], ".3f")
    row("total", [t.seconds for t in report.batches], ".3f")
    row("motions/s", [t.motions_per_second for t in report.batches], ".2f")
    row("seconds per motion", [1 / t.motions_per_second for t in report.batches], ".3f")
    row("achieved GFLOP/s", [report.achieved_flops_per_second(t) / giga for t in report.batches], ".1f")
    row("efficiency (achieved / matmul)", [report.efficiency(t) for t in report.batches], ".2f")
    lines.append("")
    lines.append(f"IK (recover_from_ric + IK, one motion): {report.ik_seconds:.3f} s (not in motions/s)")
    if report.agreement is not None:
        a = report.agreement
        lines.append(
            f"int8 vs fp32: max relative logit error {a['max_relative_error']:.4f}, guided argmax agreement "
            f"{a['argmax_agreement']:.3f}; same-seed generation token match {a['token_match']:.3f} "
            f"(per scale {', '.join(f'{m:.3f}' for m in a['token_match_per_scale'])})"
        )
    return "\n".join(lines)
