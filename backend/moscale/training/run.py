"""What every training run shares: distributed set-up, per-step seeding, resumable state, logging.

Each step's randomness (batch choice, crops, masking, dropout) is derived from (seed, rank, step)
alone, so a resumed run replays exactly the steps an uninterrupted one would have taken.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, value: float) -> float:
        """Average a scalar over the processes (for logged metrics)."""
        if self.world_size == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.item() / self.world_size

    def barrier(self):
        if self.world_size > 1:
            dist.barrier()


def init_distributed(device: str = "auto") -> Distributed:
    """Join the process group when launched by torchrun (gloo on CPU, NCCL on GPU); else one process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_device = torch.device(f"cuda:{local_rank}" if device == "cuda" else device)
    if device == "cuda":
        torch.cuda.set_device(torch_device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo", rank=rank, world_size=world_size)
    return Distributed(rank, world_size, torch_device)


def close_distributed():
    if dist.is_initialized():
        dist.destroy_process_group()


def seed_step(seed: int, rank: int, step: int, device) -> tuple[np.random.Generator, torch.Generator]:
    """Generators for one step, and the global torch seed (dropout) set from (seed, rank, step)."""
    key = [seed, rank, step]
    torch.manual_seed(int(np.random.SeedSequence(key).generate_state(1)[0]))
    generator = torch.Generator(device).manual_seed(int(np.random.SeedSequence(key + [1]).generate_state(1)[0]))
    return np.random.default_rng(key), generator


def warmup_cosine(step: int, total: int, warmup: int, peak: float, start_ratio: float = 0.005,
                  end_ratio: float = 0.01) -> float:
    """Linear warm-up from start_ratio * peak to peak, then cosine down to end_ratio * peak."""
    if step < warmup:
        return peak * (start_ratio + (1 - start_ratio) * step / max(warmup, 1))
    progress = min(1.0, (step - warmup) / max(total - warmup, 1))
    return peak * (end_ratio + (1 - end_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def save_state(path: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, extra: dict):
    """Resumable state; written to a temporary file first so a crash never leaves half a file."""
    state = {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "extra": extra}
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_state(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, dict]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except Exception as exc:  # a corrupt or foreign file must never be half-loaded silently
        raise RuntimeError(f"cannot resume from {path}: {exc}") from exc
    return int(state["step"]), state["extra"]


class RunLog:
    """metrics.jsonl, a progress line with ETA on stderr, and PNG curves of every logged metric."""

    def __init__(self, directory: Path, total_steps: int, enabled: bool = True):
        self.directory, self.total, self.enabled = Path(directory), total_steps, enabled
        self.path = self.directory / "metrics.jsonl"
        self.started = time.monotonic()
        self.first_step = None

    def log(self, step: int, split: str, **metrics):
        if not self.enabled:
            return
        record = {"step": step, "split": split, "time": round(time.monotonic() - self.started, 3), **metrics}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def progress(self, step: int, **metrics):
        if not self.enabled:
            return
        if self.first_step is None:
            self.first_step, self.started = step, time.monotonic()
        done = step - self.first_step
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (self.total - step) if done > 0 else float("nan")
        values = "  ".join(f"{key} {value:.4g}" for key, value in metrics.items())
        print(f"\rstep {step}/{self.total}  {values}  eta {_duration(eta)}", end="", file=sys.stderr, flush=True)

    def plot(self):
        """One PNG per split with a panel per metric (loss curves), from metrics.jsonl."""
        if not self.enabled or not self.path.is_file():
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        records = [json.loads(line) for line in self.path.read_text().splitlines() if line]
        for split in sorted({r["split"] for r in records}):
            rows = [r for r in records if r["split"] == split]
            names = [k for k in rows[-1] if k not in ("step", "split", "time")]
            figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
            for axis, name in zip(axes[0], names):
                points = [(r["step"], r[name]) for r in rows if name in r]
                axis.plot([p[0] for p in points], [p[1] for p in points])
                axis.set_title(f"{split} {name}")
                axis.set_xlabel("step")
            figure.tight_layout()
            figure.savefig(self.directory / f"curves_{split}.png", dpi=80)
            plt.close(figure)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
