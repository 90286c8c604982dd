"""Image–text retrieval Recall@K, both directions, with exact pessimistic ranks.

`sim` is (n_images, n_captions); `caption_to_image[c]` is the image index of caption c (COCO has
5 captions per image, counts may differ). A query's rank (0-based) is the number of *wrong*
gallery items scoring at least as high as its best correct item:

- text→image: one correct image, so rank = #(strictly greater) + #(ties other than itself).
- image→text: any of the image's captions is correct; rank = #(wrong captions with a score ≥ the
  best correct caption's score). Other correct captions never count against the query.

Ties are pessimistic (a wrong item tied with the correct one is ranked above it): constant or
degenerate similarities then score 0, not chance, and the result does not depend on sort order.
Recall@K = fraction of queries with rank < K, as a fraction in [0, 1] (papers print percent).
The per-query ranks are returned too: the router decides per query which model answers it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# Queries per chunk: bounds the boolean temporaries (COCO 5k: 25k captions).
_CHUNK = 256


def _check(sim: np.ndarray, caption_to_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sim = np.asarray(sim)
    c2i = np.asarray(caption_to_image)
    if sim.ndim != 2:
        raise ValueError(f"sim must be (n_images, n_captions), got shape {sim.shape}")
    n_images, n_captions = sim.shape
    if c2i.shape != (n_captions,):
        raise ValueError(f"caption_to_image must have shape ({n_captions},), got {c2i.shape}")
    if not np.issubdtype(c2i.dtype, np.integer):
        raise ValueError(f"caption_to_image must hold integers, got {c2i.dtype}")
    if n_captions and (c2i.min() < 0 or c2i.max() >= n_images):
        raise ValueError(f"caption_to_image holds indices outside [0, {n_images})")
    if np.isnan(sim).any():
        raise ValueError("sim holds NaN: ranks would be undefined")
    if (np.bincount(c2i, minlength=n_images) == 0).any():
        raise ValueError("every image needs at least one caption (image→text rank is undefined otherwise)")
    return sim, c2i.astype(np.int64)


def _by_chunk(n_queries: int, rank_block) -> np.ndarray:
    """(n_queries,) int64 ranks, `rank_block(query indices)` computed _CHUNK queries at a time."""
    ranks = np.empty(n_queries, dtype=np.int64)
    for start in range(0, n_queries, _CHUNK):
        queries = np.arange(start, min(start + _CHUNK, n_queries))
        ranks[queries] = rank_block(queries)
    return ranks


def t2i_ranks(sim: np.ndarray, caption_to_image: np.ndarray) -> np.ndarray:
    """(n_captions,) int64: for each caption, how many other images score ≥ its own image."""
    sim, c2i = _check(sim, caption_to_image)

    def rank(cols: np.ndarray) -> np.ndarray:
        block = sim[:, cols]  # (n_images, c)
        correct = block[c2i[cols], np.arange(len(cols))]
        # ≥ counts the correct image itself once: subtract it.
        return (block >= correct[None, :]).sum(axis=0) - 1

    return _by_chunk(sim.shape[1], rank)


def i2t_ranks(sim: np.ndarray, caption_to_image: np.ndarray) -> np.ndarray:
    """(n_images,) int64: for each image, how many wrong captions score ≥ its best caption."""
    sim, c2i = _check(sim, caption_to_image)

    def rank(rows: np.ndarray) -> np.ndarray:
        block = sim[rows]  # (r, n_captions)
        is_own = c2i[None, :] == rows[:, None]
        best = np.where(is_own, block, -np.inf).max(axis=1)  # every image has a caption: finite
        return ((block >= best[:, None]) & ~is_own).sum(axis=1)

    return _by_chunk(sim.shape[0], rank)


def rsum(ranks: np.ndarray, ks: Iterable[int] = (1, 5, 10)) -> float:
    """R@1 + R@5 + R@10 as fractions (the model-selection score of retrieval work)."""
    return float(sum((ranks < k).mean() for k in ks))


def recall_from_ranks(ranks: np.ndarray, ks: Iterable[int] = (1, 5, 10)) -> dict[int, float]:
    """{K: fraction of queries with rank < K}; K beyond the gallery simply gives 1.0."""
    ranks = np.asarray(ranks)
    out = {}
    for k in ks:
        if int(k) < 1:
            raise ValueError(f"K must be >= 1, got {k}")
        out[int(k)] = float((ranks < int(k)).mean()) if ranks.size else float("nan")
    return out


def recall_at_k(sim: np.ndarray, caption_to_image: np.ndarray,
                ks: Iterable[int] = (1, 5, 10)) -> dict[str, dict[int, float]]:
    """{"i2t": {K: R@K}, "t2i": {K: R@K}} as fractions in [0, 1]."""
    ks = tuple(ks)
    return {
        "i2t": recall_from_ranks(i2t_ranks(sim, caption_to_image), ks),
        "t2i": recall_from_ranks(t2i_ranks(sim, caption_to_image), ks),
    }
