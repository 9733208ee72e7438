"""Reference geometry for tests, written out by hand apart from the code under test (numpy only, so
both the backend's environment and the Blender one import it)."""

import numpy as np


def blender_from_model(vectors) -> np.ndarray:
    """Model (x left, y up, z forward) -> Blender (x left, z up, -y forward)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    return np.stack([vectors[..., 0], -vectors[..., 2], vectors[..., 1]], axis=-1)


def quaternion_matrix(q) -> np.ndarray:
    """(w, x, y, z) [..., 4] -> [..., 3, 3], the textbook formula."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)
