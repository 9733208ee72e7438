"""Previews of joint-position motions: a PNG filmstrip with captions and a GIF (or MP4) animation.

Takes plain [T, 22, 3] position arrays (metres, Y up), so it shows corpus clips and generated
motions alike. The camera is a fixed orthographic 3/4 view (35 degrees round from the front,
looking 20 degrees down) that follows the pelvis horizontally, with the floor drawn as a grid.
"""

import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from moscale.motion.skeleton import FPS, JOINT_NAMES, PARENTS

_YAW, _PITCH = np.radians(35.0), np.radians(20.0)
_LEFT, _RIGHT, _CENTRE = (52, 112, 220), (220, 70, 60), (60, 60, 60)
_BACKGROUND, _FLOOR = (250, 250, 248), (205, 205, 200)
_CELL = 200          # filmstrip cell size in pixels
_CAPTION_HEIGHT = 22
_METRES_ACROSS = 2.4  # the view spans this many metres


def _colour(joint: int) -> tuple[int, int, int]:
    name = JOINT_NAMES[joint]
    return _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _CENTRE


def _depth(points: np.ndarray) -> np.ndarray:
    """Distance towards the camera, which sits in front of the character and to its left."""
    return np.sin(_YAW) * points[..., 0] + np.cos(_YAW) * points[..., 2]


def _project(points: np.ndarray, centre: np.ndarray, size: int) -> np.ndarray:
    """World points [..., 3] -> pixel coordinates [..., 2] in a size x size cell."""
    p = points - centre
    right = np.cos(_YAW) * p[..., 0] - np.sin(_YAW) * p[..., 2]   # the character's left is screen right
    up = np.cos(_PITCH) * p[..., 1] - np.sin(_PITCH) * _depth(p)
    scale = size / _METRES_ACROSS
    return np.stack([size / 2 + right * scale, size * 0.82 - up * scale], axis=-1)


def _draw_pose(draw: ImageDraw.ImageDraw, pose: np.ndarray, origin: tuple[int, int], size: int) -> None:
    centre = np.array([pose[0, 0], 0.0, pose[0, 2]])
    ox, oy = origin
    for offset in np.arange(-1.0, 1.01, 0.5):  # floor grid around the pelvis, 0.5 m apart
        snapped = np.round(centre / 0.5) * 0.5
        for a, b in (((offset, -1.0), (offset, 1.0)), ((-1.0, offset), (1.0, offset))):
            ends = np.array([[snapped[0] + a[0], 0.0, snapped[2] + a[1]], [snapped[0] + b[0], 0.0, snapped[2] + b[1]]])
            (x0, y0), (x1, y1) = _project(ends, centre, size)
            draw.line([(ox + x0, oy + y0), (ox + x1, oy + y1)], fill=_FLOOR, width=1)
    pixels = _project(pose, centre, size)
    width = max(2, size // 60)
    depth = _depth(pose)
    for joint in sorted(range(1, len(PARENTS)), key=lambda j: depth[j]):  # far bones first
        (x0, y0), (x1, y1) = pixels[PARENTS[joint]], pixels[joint]
        draw.line([(ox + x0, oy + y0), (ox + x1, oy + y1)], fill=_colour(joint), width=width)
    head = pixels[JOINT_NAMES.index("head")]
    radius = width * 2
    draw.ellipse([ox + head[0] - radius, oy + head[1] - radius, ox + head[0] + radius, oy + head[1] + radius],
                 outline=_CENTRE, width=width)


def _check(positions) -> np.ndarray:
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (len(JOINT_NAMES), 3) or len(positions) == 0:
        raise ValueError(f"positions must be [frames, {len(JOINT_NAMES)}, 3], got {positions.shape}")
    return positions


def render_filmstrip(clips: list[tuple[np.ndarray, str]], path_png, frames_per_clip: int = 6) -> Path:
    """A PNG grid: one row per (positions [T, 22, 3], caption), `frames_per_clip` evenly spaced
    poses per row, the caption above each row. Returns the path written."""
    if not clips:
        raise ValueError("render_filmstrip needs at least one clip")
    row_height = _CELL + _CAPTION_HEIGHT
    image = Image.new("RGB", (_CELL * frames_per_clip, row_height * len(clips)), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for row, (positions, caption) in enumerate(clips):
        positions = _check(positions)
        top = row * row_height
        draw.text((6, top + 5), caption, fill=(20, 20, 20), font=font)
        for column, frame in enumerate(np.linspace(0, len(positions) - 1, frames_per_clip).round().astype(int)):
            _draw_pose(draw, positions[frame], (column * _CELL, top + _CAPTION_HEIGHT), _CELL)
            draw.text((column * _CELL + 4, top + row_height - 14), f"{frame / FPS:.1f}s", fill=(120, 120, 120), font=font)
    path = Path(path_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def _frames(positions: np.ndarray, caption: str, size: int) -> list[Image.Image]:
    font = ImageFont.load_default()
    images = []
    for frame, pose in enumerate(positions):
        image = Image.new("RGB", (size, size + _CAPTION_HEIGHT), _BACKGROUND)
        draw = ImageDraw.Draw(image)
        draw.text((6, 5), caption, fill=(20, 20, 20), font=font)
        _draw_pose(draw, pose, (0, _CAPTION_HEIGHT), size)
        draw.text((4, size + _CAPTION_HEIGHT - 14), f"{frame / FPS:.2f}s", fill=(120, 120, 120), font=font)
        images.append(image)
    return images


def render_animation(positions, caption: str, path, size: int = 320, fps: float = FPS) -> Path:
    """An animation of the skeleton with its caption: MP4 when `path` ends in .mp4 and ffmpeg is
    installed, otherwise a GIF (an .mp4 path then gets a .gif next to it). Returns the path."""
    positions = _check(positions)
    images = _frames(positions, caption, size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg = shutil.which("ffmpeg")
    if path.suffix.lower() == ".mp4" and ffmpeg:
        width, height = images[0].size
        command = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-pix_fmt", "yuv420p",
                   "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", str(path)]
        subprocess.run(command, input=b"".join(image.tobytes() for image in images), check=True)
        return path
    if path.suffix.lower() != ".gif":
        path = path.with_suffix(".gif")
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0)
    return path
