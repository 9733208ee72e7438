"""The one training loop both networks use: seeded steps, clipping, validation, best and resumable state."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .run import Distributed, RunLog, load_state, save_state, seed_step


@dataclass
class LoopOptions:
    steps: int
    lr: float
    warmup: int = 500
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 20
    val_every: int = 500
    checkpoint_every: int = 500
    resume: bool = True  # continue from out/last.pt when it exists
    stop_at: int | None = None  # end this run early at that step (state saved), to resume later


@dataclass
class Task:
    """What differs between trainings: the loss of a step, validation, and exporting the best model."""

    model: torch.nn.Module  # what is optimised and saved (unwrapped)
    step_module: torch.nn.Module  # what the step calls (the model, or its DDP wrapper)
    optimizer: torch.optim.Optimizer
    lr_at: Callable[[int], float]
    loss: Callable  # (step_module, step, numpy rng, torch generator) -> (loss tensor, metrics dict)
    validate: Callable[[], dict]  # -> metrics, "loss" is the selection criterion (lower is better)
    export: Callable[[Path, int], None]  # writes a usable model directory, given its step
    extra_state: Callable[[], dict] = field(default=lambda: {})
    restore_extra: Callable[[dict], None] = field(default=lambda extra: None)


def train(task: Task, options: LoopOptions, out: Path, dist: Distributed) -> Path:
    """Run to options.steps (resuming if possible); returns out/best, the best validated model."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state_path, best_dir = out / "last.pt", out / "best"
    step, best = 0, float("inf")
    if options.resume and state_path.is_file():
        step, extra = load_state(state_path, task.model, task.optimizer)
        best = float(extra.get("best", best))
        task.restore_extra(extra)
    log = RunLog(out, options.steps, enabled=dist.is_main)
    task.model.train()
    end = options.steps if options.stop_at is None else min(options.stop_at, options.steps)
    while step < end:
        rng, generator = seed_step(options.seed, dist.rank, step, dist.device)
        for group in task.optimizer.param_groups:
            group["lr"] = task.lr_at(step)
        loss, metrics = task.loss(task.step_module, step, rng, generator)
        task.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(task.model.parameters(), options.grad_clip)
        task.optimizer.step()
        step += 1
        if step % options.log_every == 0 or step == options.steps:
            metrics = {"loss": loss.item(), **{k: float(v) for k, v in metrics.items()},
                       "grad_norm": float(grad_norm), "lr": task.lr_at(step - 1)}
            metrics = {key: dist.mean(value) for key, value in metrics.items()}
            log.log(step, "train", **metrics)
            log.progress(step, loss=metrics["loss"])
        if step % options.val_every == 0 or step == options.steps:
            if dist.is_main:
                task.model.eval()
                with torch.no_grad():
                    validation = task.validate()
                task.model.train()
                log.log(step, "val", **validation)
                if validation["loss"] < best:
                    best = validation["loss"]
                    task.export(best_dir, step)
            dist.barrier()
        if dist.is_main and (step % options.checkpoint_every == 0 or step in (options.steps, end)):
            save_state(state_path, step, task.model, task.optimizer, {"best": best, **task.extra_state()})
            log.plot()
    if dist.is_main:
        print(file=sys.stderr)
    dist.barrier()
    return best_dir
