"""The motion lengths a request may ask for (stdlib only, so prompt files are checked without torch)."""

import math

MIN_FRAMES = 40  # below this the coarsest scale has no token
MAX_TOTAL_FRAMES = 20 * 600  # ten minutes per request


def plan_frames(frames, unit: int = 4) -> tuple[int, list[str]]:
    """Validate a requested length and round it to the model's frame multiple, with a note if changed."""
    if isinstance(frames, bool) or not isinstance(frames, (int, float)) or not math.isfinite(frames):
        raise ValueError(f"length must be a number of frames, got {frames!r}")
    if frames < MIN_FRAMES:
        raise ValueError(f"length {frames} frames is too short: at least {MIN_FRAMES} frames ({MIN_FRAMES / 20:g} s)")
    if frames > MAX_TOTAL_FRAMES:
        raise ValueError(f"length {frames} frames is too long: at most {MAX_TOTAL_FRAMES} frames "
                         f"({MAX_TOTAL_FRAMES / 20:g} s) per request")
    rounded = int(round(frames / unit) * unit)
    notes = [] if rounded == frames else [f"length rounded from {frames} to {rounded} frames (a multiple of {unit})"]
    return rounded, notes
