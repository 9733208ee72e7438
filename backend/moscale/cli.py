"""The `moscale` command line: generate, batch, edit, extend, import-official, parity, info, bench."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .device import resolve_device

FPS = 20


def _add_model_options(parser):
    parser.add_argument("--checkpoint", type=Path, help="checkpoint directory (default: the shipped model)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument("--text-encoder-path", type=Path, help="local text-encoder directory (T5 for official weights)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "int8"], help="int8: faster on CPUs")
    _add_foot_cleanup(parser)


def _add_foot_cleanup(parser):
    parser.add_argument("--no-foot-cleanup", dest="foot_cleanup", action="store_false",
                        help="keep the decoded joint positions as they are (feet may slide)")


def _add_sampling_options(parser, out_help="output file: .bvh, .npz or .json"):
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, default=5.0, help="classifier-free guidance weight (0: off)")
    parser.add_argument("--schedule", default="1,2,5,10", help="refinement steps per scale, e.g. 1,1,1,1")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--out", type=Path, required=True, help=out_help)


def _length(parser):
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seconds", type=float, help=f"duration in seconds at {FPS} fps")
    group.add_argument("--frames", type=int, help=f"duration in frames at {FPS} fps")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moscale", description="MoScale text-to-motion backend")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="generate a motion from a prompt")
    generate.add_argument("prompt")
    _length(generate)
    generate.add_argument("--variations", type=int, default=1, help="K motions with seeds seed..seed+K-1")
    generate.add_argument("--server", type=Path, metavar="CONNECTION_FILE",
                          help="generate on a running `moscale serve` (its model) instead of in-process")
    _add_sampling_options(generate)
    _add_model_options(generate)

    batch = commands.add_parser("batch", help="generate every prompt of a .txt, .jsonl or .csv file into a folder",
                                description="Items without their own seed get --seed plus their index. "
                                            "Exit status 1 if any item failed (see manifest.json).")
    batch.add_argument("prompts", type=Path, help=".txt (a prompt a line), .jsonl or .csv (prompt, seconds, seed, name)")
    batch.add_argument("--format", default="bvh", choices=["bvh", "npz", "json"])
    batch.add_argument("--seconds", type=float, default=4.0, help="duration of items without their own")
    batch.add_argument("--server", type=Path, metavar="CONNECTION_FILE",
                       help="generate on a running `moscale serve` (its model) instead of in-process")
    _add_sampling_options(batch, out_help="output folder (with manifest.json; an earlier run there is resumed)")
    _add_model_options(batch)

    edit = commands.add_parser("edit", help="regenerate frames [start, end) of a motion file")
    edit.add_argument("input", type=Path, help="motion file (.bvh, .npz, .json) on our 22-joint skeleton")
    edit.add_argument("prompt")
    edit.add_argument("--start", type=int, required=True, help="first frame to regenerate (20 fps frames)")
    edit.add_argument("--end", type=int, required=True, help="frame after the last one to regenerate")
    edit.add_argument("--blend", type=int, default=8, help="frames over which seams are blended")
    _add_sampling_options(edit)
    _add_model_options(edit)

    extend = commands.add_parser("extend", help="continue a motion file")
    extend.add_argument("input", type=Path)
    extend.add_argument("prompt")
    _length(extend)
    _add_sampling_options(extend)
    _add_model_options(extend)

    info = commands.add_parser("info", help="model card and limits of a checkpoint")
    _add_model_options(info)

    convert = commands.add_parser("import-official", help="convert the authors' released checkpoint")
    convert.add_argument("source", type=Path, help="folder with hrvqvae/ and moscale/ (and mean.npy, std.npy)")
    convert.add_argument("--out", type=Path, required=True, help="our checkpoint directory to write")
    convert.add_argument("--text-encoder-path", type=Path, help="local T5-v1.1-base directory recorded in the config")
    convert.add_argument("--name", default="moscale-official")

    parity = commands.add_parser("parity", help="check imported official weights against reference outputs")
    parity.add_argument("fixture", type=Path)

    bench = commands.add_parser("bench", help="per-stage timings, motions/s and FLOP efficiency")
    source = bench.add_mutually_exclusive_group()
    source.add_argument("--config", default="paper", choices=["paper", "default", "small", "tiny"],
                        help="random-weight model of this size (default paper)")
    source.add_argument("--checkpoint", type=Path)
    bench.add_argument("--schedule", default="1,2,5,10")
    bench.add_argument("--batch", default="1,4,16", help="batch sizes, e.g. 1,4")
    bench.add_argument("--precision", default="fp32", choices=["fp32", "int8"])
    bench.add_argument("--repeats", type=int, default=2)
    bench.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    bench.add_argument("--threads", type=int)

    training = commands.add_parser("train", help="train the tokenizer or the transformer (torchrun for DDP)")
    networks = training.add_subparsers(dest="network", required=True)
    for network in ("tokenizer", "transformer"):
        sub = networks.add_parser(network)
        sub.add_argument("--data", type=Path, required=True, help="HumanML3D-layout folder")
        sub.add_argument("--out", type=Path, required=True, help="run directory (resumed when it has last.pt)")
        sub.add_argument("--size", default="small", choices=["paper", "default", "small", "tiny"])
        sub.add_argument("--steps", type=int, required=True)
        sub.add_argument("--batch-size", type=int, default=64)
        sub.add_argument("--lr", type=float, default=3e-4)
        sub.add_argument("--warmup", type=int, default=500)
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--log-every", type=int, default=20)
        sub.add_argument("--val-every", type=int, default=500)
        sub.add_argument("--checkpoint-every", type=int, default=500)
        sub.add_argument("--no-resume", action="store_true", help="start over even if out/last.pt exists")
        sub.add_argument("--stop-at", type=int, help="stop this run at that step (resumable), e.g. to time-box it")
        sub.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        sub.add_argument("--threads", type=int)
    evaluator = networks.add_parser("evaluator", help="the text-motion retrieval evaluator of `moscale eval`")
    evaluator.add_argument("--data", type=Path, required=True)
    evaluator.add_argument("--out", type=Path, required=True)
    evaluator.add_argument("--steps", type=int, default=2000)
    evaluator.add_argument("--batch-size", type=int, default=128)
    evaluator.add_argument("--lr", type=float, default=1e-3)
    evaluator.add_argument("--seed", type=int, default=0)
    evaluator.add_argument("--threads", type=int)
    networks.choices["tokenizer"].add_argument("--window", type=int, default=64, help="frames per training crop")
    networks.choices["tokenizer"].add_argument(
        "--refit-decoder", type=Path, metavar="TOKENIZER_OR_CHECKPOINT",
        help="train only the decoder of this trained tokenizer (its tokens stay valid for its transformer)")
    networks.choices["transformer"].add_argument("--tokenizer", type=Path, required=True,
                                                 help="trained tokenizer directory (a tokenizer run's best/)")
    networks.choices["transformer"].add_argument("--name", default="moscale", help="model name in the checkpoint")
    networks.choices["transformer"].add_argument("--text-encoder", default="minilm", choices=["minilm", "t5"])
    networks.choices["transformer"].add_argument("--text-encoder-path", type=Path,
                                                 help="local encoder directory (required for t5)")

    data = commands.add_parser("data", help="the procedural motion corpus and previews")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    synth = data_commands.add_parser("synth", help="write the procedural corpus in the HumanML3D layout")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--clips", type=int, default=20000)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--workers", type=int, default=2)
    preview = data_commands.add_parser("preview", help="filmstrip PNG (and GIF) of corpus clips or motion files")
    preview.add_argument("inputs", nargs="*", type=Path, help="motion files (.bvh, .npz, .json)")
    preview.add_argument("--data", type=Path, help="a HumanML3D-layout folder to preview clips from")
    preview.add_argument("--ids", nargs="*", default=[], help="clip ids of --data (default: the first --count test ids)")
    preview.add_argument("--count", type=int, default=12)
    preview.add_argument("--out", type=Path, required=True, help="filmstrip .png")
    preview.add_argument("--animation", type=Path, help="also write the first clip as .gif (or .mp4 with ffmpeg)")
    preview.add_argument("--frames-per-clip", type=int, default=6)

    evaluate = commands.add_parser("eval", help="FID, R-precision, MM-Dist, diversity, physical metrics")
    evaluate.add_argument("--checkpoint", type=Path, help="model to evaluate (default: the shipped model)")
    evaluate.add_argument("--data", type=Path, required=True, help="HumanML3D-layout folder")
    evaluate.add_argument("--evaluator", type=Path, required=True, help="trained evaluator directory")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--repeats", type=int, default=3)
    evaluate.add_argument("--out-json", type=Path)
    evaluate.add_argument("--out-markdown", type=Path)
    evaluate.add_argument("--mm-batches", type=int, default=1)
    evaluate.add_argument("--mm-generations", type=int, default=10)
    evaluate.add_argument("--max-clips", type=int)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--guidance", type=float, default=5.0)
    evaluate.add_argument("--schedule", default="1,2,5,10")
    evaluate.add_argument("--temperature", type=float, default=1.0)
    evaluate.add_argument("--top-k", type=int, default=0)
    evaluate.add_argument("--top-p", type=float, default=0.9)
    evaluate.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    evaluate.add_argument("--threads", type=int)
    _add_foot_cleanup(evaluate)

    from .serving.server import add_serve_arguments  # stdlib only, no torch

    serve = commands.add_parser("serve", help="serve the model to the Blender add-on over an authenticated local socket")
    add_serve_arguments(serve)

    pack = commands.add_parser("pack", help="copy a checkpoint for shipping, optionally with float16 weights")
    pack.add_argument("checkpoint", type=Path)
    pack.add_argument("--out", type=Path, required=True)
    pack.add_argument("--fp16", action="store_true", help="store weights as float16 (half the size)")
    pack.add_argument("--tokenizer", type=Path, help="replace the tokenizer by this one with the same codebook "
                                                     "(a `train tokenizer --refit-decoder` run's best/)")
    return parser


def _schedule(text: str) -> list[int]:
    try:
        steps = [int(s) for s in text.split(",")]
    except ValueError:
        raise SystemExit(f"moscale: --schedule must be comma-separated integers, got {text!r}")
    return steps


def _frames(args, default_seconds: float = 4.0) -> int:
    if args.frames is not None:
        return args.frames
    return round((args.seconds if args.seconds is not None else default_seconds) * FPS)


def _load(args):
    from .motion.motion import check_motion_path

    check_motion_path(args.out)  # fail before any work is done
    return _load_model(args)


def _load_model(args):
    import torch

    from .checkpoint import default_checkpoint_dir, load_checkpoint
    from .generation.generator import MotionGenerator

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = load_checkpoint(args.checkpoint or default_checkpoint_dir(), device)
    if args.text_encoder_path:
        model.text_encoder.path = str(args.text_encoder_path)
    return model, MotionGenerator(model, device=device, precision=getattr(args, "precision", "fp32"),
                                  foot_cleanup=args.foot_cleanup)


def _options(args):
    from .generation.scales import SamplingOptions

    return SamplingOptions(guidance=args.guidance, schedule=_schedule(args.schedule), temperature=args.temperature,
                           top_k=args.top_k, top_p=args.top_p)


def _progress_printer():
    def show(event):
        print(f"\r  {event.stage:<28} {event.fraction * 100:5.1f} %", end="", file=sys.stderr, flush=True)
    return show


def _save(result, model, path: Path, extra: dict):
    from .motion.motion import Motion, save_motion

    metadata = {"prompt": result.prompt, "seed": result.seed, "model": model.name, "notes": result.notes, **extra}
    motion = Motion.from_positions(result.positions, fps=FPS, metadata=metadata)
    save_motion(path, motion)
    print(f"wrote {path} ({motion.frame_count} frames, {motion.frame_count / FPS:.2f} s)")


def _variation_path(path: Path, index: int, count: int) -> Path:
    return path if count == 1 else path.with_name(f"{path.stem}_{index + 1:02d}{path.suffix}")


def _check_server_args(args):
    if args.checkpoint or args.text_encoder_path:
        raise ValueError("with --server the server's model is used: give --checkpoint and --text-encoder-path "
                         "to `moscale serve`")


def _generate_on_server(args):
    from .batch import generate_on_server
    from .motion.motion import check_motion_path, save_motion

    _check_server_args(args)
    check_motion_path(args.out)
    if args.variations < 1:
        raise ValueError("--variations must be at least 1")

    def show(event):
        print(f"\r  {event['stage']:<28} {event['fraction'] * 100:5.1f} %", end="", file=sys.stderr, flush=True)

    motions = generate_on_server(args.server, args.prompt, _frames(args), args.seed, args.variations, _options(args),
                                 progress=show)
    print(file=sys.stderr)
    for k, motion in enumerate(motions):
        for note in motion.metadata["notes"]:
            print(f"note: {note}")
        path = save_motion(_variation_path(args.out, k, len(motions)), motion)
        print(f"wrote {path} ({motion.frame_count} frames, {motion.frame_count / FPS:.2f} s)")


def cmd_generate(args):
    from .generation.generator import MotionRequest

    if args.server:
        return _generate_on_server(args)
    model, generator = _load(args)
    if args.variations < 1:
        raise ValueError("--variations must be at least 1")
    requests = [MotionRequest(args.prompt, _frames(args), args.seed + k) for k in range(args.variations)]
    results = generator.generate(requests, _options(args), progress=_progress_printer())
    print(file=sys.stderr)
    for k, result in enumerate(results):
        for note in result.notes:
            print(f"note: {note}")
        _save(result, model, _variation_path(args.out, k, len(results)), {})


def cmd_batch(args):
    from .batch import (
        connect,
        in_process_runner,
        read_prompts,
        run_batch,
        server_runner,
    )

    options = _options(args)
    items = read_prompts(args.prompts, seconds=args.seconds, seed=args.seed)
    if args.server:
        _check_server_args(args)
        client = connect(args.server)

        def make_runner():
            return server_runner(client, options)
    else:
        client = None

        def make_runner():
            return in_process_runner(_load_model(args)[1], options)
    try:
        counts = run_batch(args.prompts, items, args.out, f".{args.format}", make_runner)
    finally:
        if client is not None:
            client.close()
    print(f"{counts['ok']} of {counts['items']} items ok ({counts['skipped']} already done), {counts['failed']} failed; "
          f"manifest: {args.out / 'manifest.json'}")
    return 1 if counts["failed"] else 0


def cmd_edit(args):
    from .motion.motion import load_motion

    model, generator = _load(args)
    source = load_motion(args.input)
    result = generator.edit(_model_rate_positions(source), args.start, args.end, args.prompt, args.seed,
                            _options(args), blend=args.blend, progress=_progress_printer())
    print(file=sys.stderr)
    _save(result, model, args.out, {"edited_range": [args.start, args.end], "source": str(args.input)})


def cmd_extend(args):
    from .motion.motion import load_motion

    model, generator = _load(args)
    source = load_motion(args.input)
    result = generator.extend(_model_rate_positions(source), _frames(args), args.prompt, args.seed, _options(args),
                              progress=_progress_printer())
    print(file=sys.stderr)
    _save(result, model, args.out, {"source": str(args.input)})


def _model_rate_positions(motion):
    if abs(motion.fps - FPS) > 1e-6:
        raise ValueError(f"the motion file runs at {motion.fps:g} fps; the model edits {FPS} fps motions")
    return motion.positions


def cmd_info(args):
    import json

    from .checkpoint import default_checkpoint_dir, load_checkpoint

    directory = args.checkpoint or default_checkpoint_dir()
    model = load_checkpoint(directory, "cpu")
    card = {"checkpoint": str(directory), **model.summary(),
            "limits": {"min_frames": 40, "max_frames_per_pass": model.max_frames, "frame_multiple": model.unit_length}}
    print(json.dumps(card, indent=1))


def cmd_import_official(args):
    from .official import import_official

    out = import_official(args.source, args.out, name=args.name, text_encoder_path=args.text_encoder_path)
    print(f"wrote {out}")


def cmd_parity(args):
    from .parity import run_parity

    checks = run_parity(args.fixture)
    for check in checks:
        print(check.line())
    failed = [c.name for c in checks if not c.passed]
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def cmd_bench(args):
    import torch

    from .bench import format_report, run_bench

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    models, text_encoder = args.config, None
    if args.checkpoint:
        from .checkpoint import load_checkpoint
        from .text.encoders import load_text_encoder

        model = load_checkpoint(args.checkpoint, device)
        models = (model.tokenizer, model.transformer)
        text_encoder = load_text_encoder(model.text_encoder, device, expected_dim=model.transformer.config.text_dim)
    report = run_bench(models, schedule=_schedule(args.schedule), batch_sizes=[int(b) for b in args.batch.split(",")],
                       precision=args.precision, device=device, repeats=args.repeats, text_encoder=text_encoder)
    print(format_report(report))


def cmd_train(args):
    import torch

    from .model.config import PRESETS
    from .training.loop import LoopOptions
    from .training.run import close_distributed, init_distributed

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.network == "evaluator":
        from .evaluation.evaluator import train_evaluator

        train_evaluator(args.data, args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                        seed=args.seed, log=print)
        print(f"wrote {args.out}")
        return
    options = LoopOptions(steps=args.steps, lr=args.lr, warmup=args.warmup, seed=args.seed,
                          log_every=args.log_every, val_every=args.val_every,
                          checkpoint_every=args.checkpoint_every, resume=not args.no_resume, stop_at=args.stop_at,
                          grad_clip=0.5 if args.network == "tokenizer" else 2.0)
    dist = init_distributed(args.device)
    try:
        if args.network == "tokenizer":
            from .training.tokenizer import train_tokenizer

            tokenizer_config, _ = PRESETS[args.size]()
            best = train_tokenizer(args.data, args.out, tokenizer_config, options, args.batch_size, dist,
                                   window=args.window, refit_decoder=args.refit_decoder)
        else:
            from .checkpoint import TOKENIZER_FORMAT, read_config
            from .model.config import TokenizerConfig
            from .training.transformer import train_transformer

            tokenizer_config = TokenizerConfig.from_dict(read_config(args.tokenizer, (TOKENIZER_FORMAT,))["tokenizer"])
            from .text.encoders import TextEncoderSpec

            _, transformer_config = PRESETS[args.size]()
            transformer_config.code_dim, transformer_config.nb_code = tokenizer_config.code_dim, tokenizer_config.nb_code
            transformer_config.latent_length = tokenizer_config.latent_length
            text_spec = TextEncoderSpec(kind=args.text_encoder,
                                        path=None if args.text_encoder_path is None else str(args.text_encoder_path))
            best = train_transformer(args.data, args.tokenizer, args.out, transformer_config, options,
                                     args.batch_size, dist, text_spec=text_spec, name=args.name)
        if dist.is_main:
            print(f"best model: {best}")
    finally:
        close_distributed()


def cmd_data(args):
    if args.data_command == "synth":
        import time

        from .data.synth import synthesize_corpus

        started = time.monotonic()

        def progress(done, total):
            elapsed = time.monotonic() - started
            eta = elapsed / done * (total - done) if done else 0.0
            print(f"\r  {done}/{total} clips, eta {eta:.0f} s", end="", file=sys.stderr, flush=True)

        manifest = synthesize_corpus(args.out, clips=args.clips, seed=args.seed, workers=args.workers,
                                     progress=progress)
        print(file=sys.stderr)
        print(f"wrote {args.out}: {manifest['clips']} clips, {manifest['frames']} poses, "
              f"foot-skate ratio {manifest['foot_skate_ratio']:.4f}, {time.monotonic() - started:.0f} s")
        return
    from .data.preview import render_animation, render_filmstrip

    clips = _preview_clips(args)
    if not clips:
        raise ValueError("nothing to preview: give motion files or --data")
    render_filmstrip(clips, args.out, frames_per_clip=args.frames_per_clip)
    print(f"wrote {args.out}")
    if args.animation:
        print(f"wrote {render_animation(clips[0][0], clips[0][1], args.animation)}")


def _preview_clips(args):
    import numpy as np

    from .data.humanml3d import read_captions, read_split
    from .motion.motion import load_motion

    clips = []
    for path in args.inputs:
        motion = load_motion(path)
        clips.append((motion.positions, str(motion.metadata.get("prompt", path.name))))
    if args.data:
        ids = args.ids or read_split(args.data, "test")[:args.count]
        for name in ids:
            path = args.data / "new_joints" / f"{name}.npy"
            if not path.is_file():
                raise FileNotFoundError(f"no clip {name} in {args.data} ({path} is missing)")
            clips.append((np.load(path), read_captions(args.data / "texts" / f"{name}.txt")[0].text))
    return clips


def cmd_eval(args):
    import torch

    from .checkpoint import default_checkpoint_dir
    from .evaluation.run import markdown_table, run_evaluation

    if args.threads:
        torch.set_num_threads(args.threads)
    report = run_evaluation(args.checkpoint or default_checkpoint_dir(), args.data, args.evaluator, split=args.split,
                            repeats=args.repeats, out_json=args.out_json, out_markdown=args.out_markdown,
                            options=_options(args), mm_batches=args.mm_batches, mm_generations=args.mm_generations,
                            max_clips=args.max_clips, seed=args.seed, device=resolve_device(args.device),
                            foot_cleanup=args.foot_cleanup, log=print)
    print(markdown_table(report))


def cmd_serve(args):
    from .serving.server import run_serve

    return run_serve(args)


def cmd_pack(args):
    import torch

    from .checkpoint import load_checkpoint, load_tokenizer, save_checkpoint

    model = load_checkpoint(args.checkpoint, "cpu")
    if args.tokenizer:
        model.replace_tokenizer(*load_tokenizer(args.tokenizer))
    model.provenance = {**model.provenance, "weights_dtype": "float16" if args.fp16 else "float32"}
    save_checkpoint(model, args.out, torch.float16 if args.fp16 else None)
    size = sum(path.stat().st_size for path in args.out.iterdir())
    print(f"wrote {args.out} ({size / 1e6:.1f} MB)")


COMMANDS = {
    "generate": cmd_generate, "batch": cmd_batch, "edit": cmd_edit, "extend": cmd_extend, "info": cmd_info,
    "import-official": cmd_import_official, "parity": cmd_parity, "bench": cmd_bench,
    "pack": cmd_pack, "train": cmd_train, "data": cmd_data,
    "eval": cmd_eval, "serve": cmd_serve,
}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args) or 0
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"moscale {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
