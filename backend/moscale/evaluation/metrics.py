"""The standard text-to-motion metrics (Guo et al. 2022) on evaluator embeddings, in plain numpy.

Every function takes embeddings as (N, D) arrays (text and motion rows paired by index where that
matters) and returns a float. Distances are Euclidean throughout, as in the reference protocol.
"""

from __future__ import annotations

import numpy as np

R_PRECISION_BATCH = 32
DIVERSITY_PAIRS = 300
MULTIMODALITY_PAIRS = 10


def _as_float64(array, name: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be (N, D) embeddings, got shape {array.shape}")
    return array


def _pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D), (M, D) -> (N, M) Euclidean distances."""
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def fid(real, generated) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets.

    FID = ‖μ_r − μ_g‖² + tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^½), with unbiased covariances (ddof 1, as
    np.cov and the reference). tr((Σ_r Σ_g)^½) is computed as the sum of the square roots of the
    eigenvalues of Σ_r^½ Σ_g Σ_r^½, which is symmetric PSD and has the same spectrum, so no
    general (scipy) matrix square root is needed.
    """
    real, generated = _as_float64(real, "real"), _as_float64(generated, "generated")
    if real.shape[1] != generated.shape[1] or len(real) < 2 or len(generated) < 2:
        raise ValueError(f"FID needs two sets of >= 2 embeddings of one width, got {real.shape} and {generated.shape}")
    mean_r, mean_g = real.mean(0), generated.mean(0)
    cov_r, cov_g = np.cov(real, rowvar=False), np.cov(generated, rowvar=False)
    root_r = _psd_sqrt(cov_r)
    cross = np.linalg.eigvalsh(root_r @ cov_g @ root_r)
    trace_sqrt = np.sqrt(np.clip(cross, 0.0, None)).sum()
    value = ((mean_r - mean_g) ** 2).sum() + np.trace(cov_r) + np.trace(cov_g) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def r_precision(text, motion, top_k: int = 3, batch_size: int = R_PRECISION_BATCH) -> np.ndarray:
    """Top-1..top_k retrieval accuracy in consecutive batches of `batch_size` pairs (the last
    incomplete batch is dropped, as the reference loader drops it).

    Within a batch, each motion is ranked against the batch's `batch_size` texts (its own and the
    others) by Euclidean distance; top-k is the fraction of motions whose own text is among the k
    nearest. Chance level is k / batch_size. (The reference code ranks motions per text instead;
    the two agree for matched embeddings and share the chance level.) Returns (top_k,) values.
    """
    text, motion = _as_float64(text, "text"), _as_float64(motion, "motion")
    if text.shape != motion.shape:
        raise ValueError(f"text and motion embeddings must pair up, got {text.shape} and {motion.shape}")
    batches = len(text) // batch_size
    if batches == 0:
        raise ValueError(f"R-precision needs at least {batch_size} pairs, got {len(text)}")
    hits = np.zeros(top_k)
    for b in range(batches):
        rows = slice(b * batch_size, (b + 1) * batch_size)
        distances = _pairwise_distances(motion[rows], text[rows])  # (motion, text)
        own = np.diagonal(distances)[:, None]
        # Rank of the own text: how many texts are strictly nearer (ties count in the motion's favour).
        rank = (distances < own).sum(1)
        hits += [(rank < k).sum() for k in range(1, top_k + 1)]
    return hits / (batches * batch_size)


def mm_dist(text, motion) -> float:
    """Multimodal distance: mean Euclidean distance between each text and its paired motion."""
    text, motion = _as_float64(text, "text"), _as_float64(motion, "motion")
    if text.shape != motion.shape:
        raise ValueError(f"text and motion embeddings must pair up, got {text.shape} and {motion.shape}")
    return float(np.linalg.norm(text - motion, axis=1).mean())


def _distinct_pairs(count: int, pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`pairs` random index pairs (i, j) with i != j from range(count).

    The reference draws both sides independently and so sometimes pairs an item with itself, which
    lowers the value by a factor of about 1 - 1/count; we exclude that case.
    """
    first = rng.integers(0, count, size=pairs)
    second = (first + rng.integers(1, count, size=pairs)) % count
    return first, second


def diversity(motion, pairs: int = DIVERSITY_PAIRS, rng: np.random.Generator | None = None) -> float:
    """Mean Euclidean distance between `pairs` random pairs of different embeddings of a set."""
    motion = _as_float64(motion, "motion")
    if len(motion) < 2:
        raise ValueError("diversity needs at least 2 embeddings")
    rng = np.random.default_rng(0) if rng is None else rng
    first, second = _distinct_pairs(len(motion), pairs, rng)
    return float(np.linalg.norm(motion[first] - motion[second], axis=1).mean())


def multimodality(motion, pairs: int = MULTIMODALITY_PAIRS, rng: np.random.Generator | None = None) -> float:
    """Spread of the generations of one prompt: motion is (prompts, generations, D); for each prompt
    the mean distance over `pairs` random pairs of different generations, averaged over prompts."""
    motion = np.asarray(motion, dtype=np.float64)
    if motion.ndim != 3 or motion.shape[1] < 2:
        raise ValueError(f"multimodality needs (prompts, generations >= 2, D) embeddings, got {motion.shape}")
    rng = np.random.default_rng(0) if rng is None else rng
    distances = []
    for generations in motion:
        first, second = _distinct_pairs(len(generations), pairs, rng)
        distances.append(np.linalg.norm(generations[first] - generations[second], axis=1).mean())
    return float(np.mean(distances))


def interval95(values) -> tuple[float, float]:
    """(mean, 1.96·std/√n) over repeats, std with ddof 0 as in the reference's np.std."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError("interval95 needs a non-empty 1-D list of values")
    return float(values.mean()), float(1.96 * values.std() / np.sqrt(len(values)))
