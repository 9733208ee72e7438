"""Reading the HumanML3D layout: clips, captions, time-tagged sub-clips, sampling, and clear errors."""

import numpy as np
import pytest

from moscale.data.humanml3d import HumanML3DError, MotionTextSampler, load_split, read_statistics
from tiny_humanml3d import write_tiny_humanml3d


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tiny_humanml3d(tmp_path_factory.mktemp("hml"), {"train": 9, "val": 2, "test": 1})


def test_splits_load_with_captions(folder):
    clips = load_split(folder, "train")
    assert len(clips) == 9
    assert all(c.features.shape[1] == 263 and c.features.dtype == np.float32 for c in clips)
    assert all(len(c.captions) == 2 and c.captions[0].text.startswith("a person") for c in clips)
    mean, std = read_statistics(folder)
    assert mean.shape == std.shape == (263,)


def test_time_tagged_captions_become_sub_clips(folder, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    name = (copy / "train.txt").read_text().split()[0]
    frames = len(np.load(copy / "new_joint_vecs" / f"{name}.npy"))
    (copy / "texts" / f"{name}.txt").write_text(f"whole#a/DET#0.0#0.0\npart#a/DET#0.5#{(frames - 5) / 20}\n")
    clips = {c.name: c for c in load_split(copy, "train")}
    part = next(c for n, c in clips.items() if n.startswith(f"{name}@"))
    assert len(part.features) == frames - 5 - 10 and part.captions[0].text == "part"
    assert clips[name].captions[0].text == "whole"


def test_sampler_crops_to_multiples_of_four(folder):
    mean, std = read_statistics(folder)
    sampler = MotionTextSampler(load_split(folder, "train"), mean, std)
    rng = np.random.default_rng(0)
    motion, lengths, captions = sampler.batch(range(len(sampler)), rng)
    assert motion.shape == (len(sampler), 196, 263)
    assert (lengths % 4 == 0).all() and (lengths >= 40).all()
    for row, length in zip(motion, lengths):
        assert not row[length:].any() and row[:length].any()
    assert all(isinstance(c, str) and c for c in captions)


def test_broken_folders_name_the_file(folder, tmp_path):
    import shutil

    with pytest.raises(HumanML3DError, match="does not exist"):
        load_split(tmp_path / "nowhere", "train")
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    name = (broken / "train.txt").read_text().split()[0]
    (broken / "new_joint_vecs" / f"{name}.npy").unlink()
    with pytest.raises(HumanML3DError, match=f"{name}.npy"):
        load_split(broken, "train")
    np.save(broken / "new_joint_vecs" / f"{name}.npy", np.zeros((80, 250), np.float32))
    with pytest.raises(HumanML3DError, match="shape"):
        load_split(broken, "train")
    np.save(broken / "new_joint_vecs" / f"{name}.npy", np.zeros((80, 263), np.float32))
    (broken / "texts" / f"{name}.txt").write_text("a caption#a/DET#0.0#9.0\n")
    with pytest.raises(HumanML3DError, match=f"{name}.txt"):
        load_split(broken, "train")
    (broken / "texts" / f"{name}.txt").unlink()
    with pytest.raises(HumanML3DError, match=f"{name}.txt"):
        load_split(broken, "train")
    np.save(broken / "Std.npy", np.zeros(12))
    with pytest.raises(HumanML3DError, match="Std.npy"):
        read_statistics(broken)
