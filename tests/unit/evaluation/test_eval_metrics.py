"""The standard T2M metrics on cases whose answers are known in closed form."""

import numpy as np
import pytest

from moscale.evaluation.metrics import diversity, fid, interval95, mm_dist, multimodality, r_precision


def test_fid_of_a_set_with_itself_is_zero():
    points = np.random.default_rng(0).normal(size=(500, 16))
    assert fid(points, points) == pytest.approx(0.0, abs=1e-8)


def test_fid_of_shifted_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(1)
    dim, n = 8, 200_000
    shift = np.linspace(-1, 1, dim)
    scales_a, scales_b = np.full(dim, 1.0), np.linspace(0.5, 2.0, dim)
    a = rng.normal(size=(n, dim)) * scales_a
    b = rng.normal(size=(n, dim)) * scales_b + shift
    # Diagonal covariances: ‖Δμ‖² + Σ (σa − σb)².
    expected = (shift**2).sum() + ((scales_a - scales_b) ** 2).sum()
    assert fid(a, b) == pytest.approx(expected, rel=0.02)


def test_fid_with_correlated_covariances_matches_a_direct_matrix_square_root():
    rng = np.random.default_rng(2)
    mix_a, mix_b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    a, b = rng.normal(size=(400, 4)) @ mix_a, rng.normal(size=(300, 4)) @ mix_b + 0.3
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eig(cov_a @ cov_b)  # (Σa Σb)^½ has eigenvalues √λ
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b) - 2 * np.sqrt(values.real).sum()
    assert fid(a, b) == pytest.approx(expected, rel=1e-6)


def test_r_precision_is_one_for_matching_embeddings():
    motion = np.random.default_rng(3).normal(size=(128, 32))
    np.testing.assert_allclose(r_precision(motion + 1e-3, motion), [1.0, 1.0, 1.0])


def test_r_precision_drops_to_chance_with_shuffled_texts():
    rng = np.random.default_rng(4)
    motion = rng.normal(size=(32 * 400, 16))
    text = motion[rng.permutation(len(motion))]
    np.testing.assert_allclose(r_precision(text, motion), [1 / 32, 2 / 32, 3 / 32], atol=0.01)


def test_r_precision_drops_the_incomplete_last_batch():
    motion = np.random.default_rng(5).normal(size=(40, 8))
    text = motion.copy()
    text[32:] = 100.0  # would be misses if they were counted
    np.testing.assert_allclose(r_precision(text, motion), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError):
        r_precision(text[:31], motion[:31])


def test_mm_dist_of_identical_pairs_is_zero_and_of_offset_pairs_is_the_offset():
    points = np.random.default_rng(6).normal(size=(50, 4))
    assert mm_dist(points, points) == 0.0
    assert mm_dist(points, points + [3.0, 4.0, 0.0, 0.0]) == pytest.approx(5.0)


def test_diversity_of_orthonormal_points_is_root_two():
    assert diversity(np.eye(400) * 3.0) == pytest.approx(3.0 * np.sqrt(2))
    assert diversity(np.ones((10, 3))) == 0.0


def test_multimodality_measures_spread_within_each_prompt_only():
    rng = np.random.default_rng(7)
    prompts = rng.normal(size=(6, 1, 5)) * 100  # far-apart prompts must not count
    corners = np.eye(5)[None, :, :] * 2.0  # 5 generations per prompt, pairwise 2√2 apart
    assert multimodality(prompts + corners) == pytest.approx(2 * np.sqrt(2))
    assert multimodality(np.repeat(prompts, 4, axis=1)) == pytest.approx(0.0)


def test_interval95_uses_the_standard_error():
    mean, interval = interval95([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert interval == pytest.approx(1.96 * np.std([1, 2, 3, 4]) / 2)
