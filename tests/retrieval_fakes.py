"""Small random stand-ins shared by the retrieval tests."""

import numpy as np


def unit(x):
    """Rows scaled to unit norm (embeddings as CLIP returns them)."""
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def uneven_pairing(rng, n_images, most=3):
    """caption_to_image with 1..most captions per image, captions not grouped by image."""
    c2i = np.repeat(np.arange(n_images), rng.integers(1, most + 1, n_images))
    return c2i[rng.permutation(len(c2i))].astype(np.int64)
