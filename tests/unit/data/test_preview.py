"""Previews: a PNG filmstrip and a GIF animation of plain joint-position arrays."""

import shutil

import numpy as np
import pytest
from PIL import Image

from moscale.data import preview
from moscale.data.synth import ACTIONS
from moscale.data.synth.compose import positions_of


@pytest.fixture(scope="module")
def clips():
    return [(positions_of(ACTIONS[name].make(np.random.default_rng(0)).track), f"a person does {name}")
            for name in ("walk", "wave")]


def test_filmstrip_has_one_row_per_clip_and_draws_the_skeleton(clips, tmp_path):
    path = preview.render_filmstrip(clips, tmp_path / "strip.png", frames_per_clip=4)
    image = Image.open(path)
    assert image.format == "PNG"
    assert image.size == (4 * preview._CELL, 2 * (preview._CELL + preview._CAPTION_HEIGHT))
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert (pixels == preview._LEFT).all(axis=1).sum() > 200   # left limbs drawn
    assert (pixels == preview._RIGHT).all(axis=1).sum() > 200  # right limbs drawn


def test_animation_is_a_gif_with_one_frame_per_pose(clips, tmp_path):
    positions, caption = clips[1]
    path = preview.render_animation(positions, caption, tmp_path / "wave.gif", size=160)
    image = Image.open(path)
    assert image.format == "GIF" and image.n_frames == len(positions)
    assert image.size == (160, 160 + preview._CAPTION_HEIGHT)


@pytest.mark.skipif(shutil.which("ffmpeg") is not None, reason="ffmpeg installed: MP4 is written")
def test_mp4_request_without_ffmpeg_falls_back_to_gif(clips, tmp_path):
    path = preview.render_animation(clips[0][0][:10], "walk", tmp_path / "walk.mp4", size=64)
    assert path.suffix == ".gif" and path.stat().st_size > 0


def test_bad_positions_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="positions must be"):
        preview.render_filmstrip([(np.zeros((10, 21, 3)), "x")], tmp_path / "bad.png")
