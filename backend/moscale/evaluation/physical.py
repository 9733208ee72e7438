"""Physical plausibility of joint positions (T, 22, 3) in model space (metres, Y up, ground y = 0).

These look at the skeleton directly, so they catch what an embedding metric forgives: feet that
slide while planted, bodies under the floor or hovering over it, and high-frequency shake. The
tokenizer's reconstruction error lives here too: it bounds how faithful any generated motion can be.

The foot-skate ratio is the corpus's own (`data.synth.physics.foot_skate_ratio`: a step t -> t+1
skates when either toe stays below 5 cm and moves faster than 0.25 m/s horizontally), re-exported
here, so the model's number and the corpus's are one metric.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.synth.physics import foot_skate_ratio, foot_skate_steps
from ..motion.features import recover_from_ric

__all__ = ["floating_ratio", "foot_skate_ratio", "ground_penetration", "jitter", "physical_metrics",
           "tokenizer_mpjpe"]

FPS = 20.0
GROUND_CONTACT_HEIGHT = 0.05  # m: a joint this close to y = 0 is on the ground (as in the skate metric)
MAX_FLIGHT_SECONDS = 1.0  # a real jump cannot stay airborne this long (it would rise about 1.2 m)


def _check(positions) -> np.ndarray:
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (22, 3) or len(positions) < 2:
        raise ValueError(f"positions must be (frames >= 2, 22, 3), got shape {positions.shape}")
    return positions


def ground_penetration(positions) -> tuple[float, float]:
    """(mean, worst) depth in metres of the lowest joint below y = 0 over frames; frames above
    ground count as depth 0 in the mean."""
    lowest = _check(positions)[:, :, 1].min(1)
    depth = np.maximum(-lowest, 0.0)
    return float(depth.mean()), float(depth.max())


def floating_ratio(positions, fps: float = FPS) -> float:
    """Fraction of frames that belong to an airborne stretch (lowest joint more than 5 cm above
    ground) lasting longer than 1 s. Shorter stretches are taken for jumps, whose flight time
    is well under a second, so only hovering counts."""
    airborne = _check(positions)[:, :, 1].min(1) > GROUND_CONTACT_HEIGHT
    longest_jump = int(round(MAX_FLIGHT_SECONDS * fps))
    floating, run = 0, 0
    for frame_airborne in np.append(airborne, False):  # the sentinel closes a run at the end
        if frame_airborne:
            run += 1
            continue
        if run > longest_jump:
            floating += run
        run = 0
    return floating / len(airborne)


def jitter(positions, fps: float = FPS) -> float:
    """Mean jerk magnitude in m/s³: the norm of the third finite difference of each joint's
    position times fps³, averaged over joints and frames (needs at least 4 frames)."""
    positions = _check(positions)
    if len(positions) < 4:
        raise ValueError("jitter needs at least 4 frames")
    jerk = np.diff(positions, n=3, axis=0) * fps**3
    return float(np.linalg.norm(jerk, axis=-1).mean())


def physical_metrics(clips: list[np.ndarray], fps: float = FPS) -> dict:
    """All of the above over a set of clips: the skate ratio pools the steps of all clips (as the
    corpus reports it), the others are means over clips, and the worst penetration is over all."""
    if not clips:
        raise ValueError("physical_metrics needs at least one clip")
    penetration = np.array([ground_penetration(clip) for clip in clips])
    return {
        "foot_skate_ratio": float(np.concatenate([foot_skate_steps(clip, fps) for clip in clips]).mean()),
        "penetration_mean_m": float(penetration[:, 0].mean()),
        "penetration_worst_m": float(penetration[:, 1].max()),
        "floating_ratio": float(np.mean([floating_ratio(clip, fps) for clip in clips])),
        "jitter_m_s3": float(np.mean([jitter(clip, fps) for clip in clips])),
    }


@torch.inference_mode()
def tokenizer_mpjpe(model, clips: list[np.ndarray], batch_size: int = 32) -> dict:
    """Reconstruction error of a checkpoint's tokenizer on raw feature clips (T, 263), in mm.

    Each clip (at most `model.max_frames` frames, floored to a multiple of the unit length) is
    tokenized, decoded from the continuous latent after the last scale (F-hat, what generation
    decodes), and both are turned into joints. "mpjpe_mm" aligns the roots per frame (pose error,
    as the MoMask lineage reports); "global_mpjpe_mm" does not (adds root drift).
    """
    tokenizer, unit, max_frames = model.tokenizer, model.unit_length, model.max_frames
    device = next(tokenizer.parameters()).device
    local, world, frames = 0.0, 0.0, 0
    for begin in range(0, len(clips), batch_size):
        batch = clips[begin:begin + batch_size]
        lengths = [min(len(clip), max_frames) // unit * unit for clip in batch]
        motion = np.zeros((len(batch), max_frames, model.mean.shape[0]), dtype=np.float32)
        for row, (clip, length) in enumerate(zip(batch, lengths)):
            motion[row, :length] = model.normalize(clip[:length])
        frame_lengths = torch.tensor(lengths, device=device)
        _, f_hats = tokenizer.tokenize(torch.from_numpy(motion).to(device), frame_lengths)
        decoded = tokenizer.decode_latent(f_hats[-1], frame_lengths // unit).float().cpu().numpy()
        for row, (clip, length) in enumerate(zip(batch, lengths)):
            real = recover_from_ric(clip[:length])
            rebuilt = recover_from_ric(model.denormalize(decoded[row, :length]))
            local += np.linalg.norm((real - real[:, :1]) - (rebuilt - rebuilt[:, :1]), axis=-1).mean(1).sum()
            world += np.linalg.norm(real - rebuilt, axis=-1).mean(1).sum()
            frames += length
    return {"mpjpe_mm": 1000.0 * local / frames, "global_mpjpe_mm": 1000.0 * world / frames}
