"""Ranks in a gallery: per direction, F_s's and F_l's (with F_s's hint and shortlist) rank of the
correct item for every query (0 = top-1 right). See `kcm.tasks.retrieval.task` for the hint."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kcm.retrieval_metrics import i2t_ranks, t2i_ranks

if TYPE_CHECKING:
    from kcm.tasks.retrieval.task import SplitData

DIRECTIONS = ("i2t", "t2i")
SHIFT = 10.0  # > any |score| (cosines, hinted ≤ 1 + alpha): puts the shortlist above the rest


def directional(sim: np.ndarray, direction: str) -> np.ndarray:
    """Query × gallery: images × captions for i2t, captions × images for t2i."""
    return sim if direction == "i2t" else sim.T


def ranks_of(sim: np.ndarray, c2i: np.ndarray, direction: str) -> np.ndarray:
    return i2t_ranks(sim, c2i) if direction == "i2t" else t2i_ranks(sim, c2i)


def hinted_scores(large_sim: np.ndarray, large_gallery: np.ndarray, hint: np.ndarray, alpha: float,
                  small_q: np.ndarray, shortlist: int) -> np.ndarray:
    """Query × gallery scores of F_l given F_s's hint and shortlist.

    large_sim: F_l's query × gallery cosines; large_gallery: F_l's gallery embeddings (the hint
    is a gallery item); small_q: F_s's query × gallery similarities.
    """
    hinted = large_sim + alpha * (large_gallery[hint] @ large_gallery.T) if alpha else large_sim
    k = small_q.shape[1] if shortlist <= 0 else min(shortlist, small_q.shape[1])
    if k >= small_q.shape[1]:
        return hinted
    top = np.argpartition(-small_q, k - 1, axis=1)[:, :k]
    inside = np.zeros(small_q.shape, bool)
    np.put_along_axis(inside, top, True, axis=1)
    return np.where(inside, hinted + SHIFT, small_q - SHIFT)


def direction_ranks(data: SplitData, large_sim: np.ndarray, small_sim: np.ndarray, top1: np.ndarray,
                    direction: str, alpha: float, shortlist: int) -> np.ndarray:
    """F_l's ranks in one direction with the hint (top1) and shortlist of this F_s; large_sim is
    F_l's images × captions cosines, computed once by the caller."""
    gallery = data.large_text if direction == "i2t" else data.large_image
    s = hinted_scores(directional(large_sim, direction), gallery, top1, alpha,
                      directional(small_sim, direction), shortlist)
    return ranks_of(directional(s, direction), data.caption_to_image, direction)


def large_ranks(data: SplitData, small_sim: np.ndarray, top1: dict, alpha: dict, shortlist: int) -> dict[str, np.ndarray]:
    """F_l's ranks per direction with the hint and shortlist of this F_s."""
    large_sim = data.large_image @ data.large_text.T
    return {d: direction_ranks(data, large_sim, small_sim, top1[d], d, alpha[d], shortlist) for d in DIRECTIONS}
