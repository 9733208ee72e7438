"""Server speed: round-trip overhead against in-process generation, and the gain of dynamic batching.

    python -m moscale.serving.bench_server [--checkpoint DIR] [--threads 2] [--repeats 3]

(a) one 6 s generation through a `moscale serve` process versus the same generation in this
process (generator plus the IK that turns positions into the result motion, as `moscale generate`
does); (b) 8 clients sending one request each at once versus one client sending the same 8
requests one after another. Both sides use the same thread count (--threads and OMP_NUM_THREADS)
and never run at once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .client import Client

START_DEADLINE = 120.0


def start_server(folder: Path, checkpoint: Path | None, threads: int) -> tuple[subprocess.Popen, Path]:
    """A loopback server on a free port; returns once its connection file exists."""
    path = folder / "connection.json"
    command = [sys.executable, "-m", "moscale.serving", "--port", "0", "--threads", str(threads),
               "--connection-file", str(path), "--log-level", "warning"]
    if checkpoint:
        command += ["--checkpoint", str(checkpoint)]
    with open(folder / "server.log", "wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(command, stderr=log, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    deadline = time.monotonic() + START_DEADLINE
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the server did not start:\n{(folder / 'server.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return process, path


def load_in_process(checkpoint: Path | None, threads: int):
    import torch

    from ..checkpoint import default_checkpoint_dir, load_checkpoint
    from ..generation.generator import MotionGenerator

    torch.set_num_threads(threads)
    return MotionGenerator(load_checkpoint(checkpoint or default_checkpoint_dir(), "cpu"), device="cpu")


def in_process_seconds(generator, options, prompt: str, frames: int, seed: int) -> float:
    from ..generation.generator import MotionRequest
    from ..motion.motion import Motion

    started = time.perf_counter()
    result = generator.generate([MotionRequest(prompt, frames, seed)], options)[0]
    Motion.from_positions(result.positions)
    return time.perf_counter() - started


def server_seconds(client: Client, sampling: dict, prompt: str, frames: int, seed: int) -> float:
    started = time.perf_counter()
    client.generate(prompt, frames=frames, seed=seed, timeout=600, **sampling)[0].to_numpy()
    return time.perf_counter() - started


def concurrent_seconds(connection_file: Path, sampling: dict, requests: list[tuple[str, int]], frames: int) -> float:
    """Wall time for one client per request, all sending at once."""
    clients = [Client.from_connection_file(connection_file, timeout=600) for _ in requests]
    barrier, errors = threading.Barrier(len(requests) + 1), []

    def run(client, prompt, seed):
        barrier.wait()
        try:
            client.generate(prompt, frames=frames, seed=seed, timeout=600, **sampling)
        except Exception as exc:  # reported after the join
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(client, *request)) for client, request in zip(clients, requests)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    if errors:
        raise RuntimeError(f"{len(errors)} concurrent requests failed: {errors[0]}")
    return elapsed


def run(args) -> dict:
    from ..batch import server_sampling
    from ..generation.scales import SamplingOptions

    options = SamplingOptions(schedule=[int(s) for s in args.schedule.split(",")])
    sampling = server_sampling(options)
    frames = round(args.seconds * 20)
    requests = [(f"a person does move number {k}", 100 + k) for k in range(args.clients)]
    generator = load_in_process(args.checkpoint, args.threads)
    with tempfile.TemporaryDirectory() as folder:
        process, connection_file = start_server(Path(folder), args.checkpoint, args.threads)
        try:
            with Client.from_connection_file(connection_file, timeout=600) as client:
                for seed in range(args.warmup):  # the first calls pay for lazy loading and allocator growth
                    server_seconds(client, sampling, "warm up", frames, seed)
                    in_process_seconds(generator, options, "warm up", frames, seed)
                local, remote = [], []
                for repeat in range(args.repeats):  # alternated, so load drift hits both sides alike
                    local.append(in_process_seconds(generator, options, "a person walks forward", frames, repeat))
                    remote.append(server_seconds(client, sampling, "a person walks forward", frames, repeat))
                sequential, concurrent = [], []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    for prompt, seed in requests:
                        client.generate(prompt, frames=frames, seed=seed, timeout=600, **sampling)
                    sequential.append(time.perf_counter() - started)
                    before = client.status()["stats"]
                    concurrent.append(concurrent_seconds(connection_file, sampling, requests, frames))
                    after = client.status()["stats"]
                batches = after["batches"] - before["batches"]
                model = client.welcome["model"]["name"]
                client.shutdown()
        finally:
            process.wait(timeout=60)
    local_s, remote_s = statistics.median(local), statistics.median(remote)
    sequential_s, concurrent_s = statistics.median(sequential), statistics.median(concurrent)
    return {"model": model, "threads": args.threads, "schedule": options.schedule, "seconds": args.seconds,
            "repeats": args.repeats,
            "round_trip": {"in_process_s": round(local_s, 4), "server_s": round(remote_s, 4),
                           "overhead_ratio": round(remote_s / local_s, 3),
                           "in_process_runs": [round(t, 4) for t in local], "server_runs": [round(t, 4) for t in remote]},
            "batching": {"clients": args.clients, "sequential_s": round(sequential_s, 4),
                         "concurrent_s": round(concurrent_s, 4),
                         "throughput_gain": round(sequential_s / concurrent_s, 3),
                         "forward_batches_last_concurrent_run": batches}}


def report(result: dict) -> str:
    trip, batching = result["round_trip"], result["batching"]
    return "\n".join([
        (f"model {result['model']}, torch threads {result['threads']}, schedule {result['schedule']}, "
         f"{result['seconds']:g} s motions, median of {result['repeats']}"),
        (f"(a) one generation: in-process {trip['in_process_s']:.3f} s, through the server {trip['server_s']:.3f} s, "
         f"ratio {trip['overhead_ratio']:.3f} (overhead {100 * (trip['overhead_ratio'] - 1):+.1f} %)"),
        (f"(b) {batching['clients']} requests: one client in turn {batching['sequential_s']:.3f} s, "
         f"{batching['clients']} clients at once {batching['concurrent_s']:.3f} s, throughput x"
         f"{batching['throughput_gain']:.2f} ({batching['forward_batches_last_concurrent_run']} forward batches)"),
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moscale.serving.bench_server", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="checkpoint directory (default: the shipped model)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, in this process and the server")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each motion")
    parser.add_argument("--schedule", default="1,2,5,10", help="refinement steps per scale")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10, help="measured runs of each kind (the median is reported)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured runs on each side first")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    # Also for threads torch starts later (the server's worker): OpenMP reads this when torch loads.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    result = run(args)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
