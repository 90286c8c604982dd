"""Image–text retrieval as a task of the closed loop (`kcm.loop.core.Task`): galleries instead of classes.

A query is an image (i2t: find its captions) or a caption (t2i: find its image); the two
directions are the task's views, and an answer is the rank of the correct item (0 = top-1 right).

- F_s (`kcm.models.small_retrieval`) ranks the gallery by its own similarities S.
- The judge F_j reads a fixed description of the query and the *shape* of F_s's similarity
  distribution for it (the top-m similarities, z-scored within the query's row) and predicts
  whether F_s's top-1 is right; C_x = that probability (retrieval has no class set to take a
  max-softmax over, so every judge here is a binary one: DESIGN.md's "is the small model right"
  variant). C_x > eps: F_s's ranking answers; else F_l is called. No d/kd rows: their hard or
  soft class labels have no gallery counterpart.
- Prompt modification: F_l re-ranks F_s's top-k shortlist (k = 0: the whole gallery) with the
  query expanded by the hint, F_s's top-1 item: score(g) = (e_q + alpha · e_hint) · e_g in F_l's
  space (`kcm.tasks.retrieval.ranking`). Items outside the shortlist keep F_s's order below it,
  so a query whose match F_s left out keeps F_s's rank. alpha (how far F_l trusts the hint) is
  chosen per direction on val from a grid, for each small model: the large model's cached
  embeddings make every hint free.
- Distillation: asked training queries carry F_l's hinted similarity distribution over the
  in-batch gallery into F_s (`RetrievalTeachers`); the judge term of `kcm.distill` has no
  gallery-shaped distribution to distil and is left out (docs/retrieval.md).

Out-of-fold outputs: training queries are scored by a small model that did not see them (folds
over images), in galleries of the test gallery's size (chunks of a held-out fold), so judge
features on train look like those on test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from sklearn.model_selection import KFold

from kcm.distill import DistillWeights
from kcm.loop.core import SmallState
from kcm.models.small_retrieval import (
    RetrievalTeachers,
    SmallRetrievalParams,
    fit_small_retrieval,
)
from kcm.retrieval_metrics import rsum
from kcm.tasks.retrieval.ranking import (
    DIRECTIONS,
    direction_ranks,
    directional,
    large_ranks,
    ranks_of,
)


@dataclass
class SplitData:
    """One split: F_s's fixed inputs, the pairing, F_l's unit-norm embeddings, query descriptors."""

    image_x: np.ndarray  # (n_images, p) F_s image features
    text_x: sparse.csr_matrix  # (n_captions, v) F_s text features
    caption_to_image: np.ndarray  # (n_captions,) int64
    large_image: np.ndarray  # (n_images, d)
    large_text: np.ndarray  # (n_captions, d)
    query_features: dict[str, np.ndarray]  # direction -> (n_queries, q)

    @property
    def n_images(self) -> int:
        return len(self.image_x)

    def sub(self, images: np.ndarray) -> SplitData:
        """The sub-gallery of these images (sorted) and all their captions."""
        images = np.sort(images)
        keep = np.isin(self.caption_to_image, images)
        caps = np.flatnonzero(keep)
        return SplitData(
            self.image_x[images], self.text_x[caps], np.searchsorted(images, self.caption_to_image[caps]),
            self.large_image[images], self.large_text[caps],
            {"i2t": self.query_features["i2t"][images], "t2i": self.query_features["t2i"][caps]},
        )

    def captions_of(self, images: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.isin(self.caption_to_image, images))


@dataclass(frozen=True)
class RetrievalParams:
    """What retrieval adds to the loop's config."""

    shortlist: int = 0  # k; 0 = the whole gallery
    alphas: tuple[float, ...] = (0.0, 0.125, 0.25, 0.5, 1.0)
    top_m: int = 8  # similarities the judge reads
    small: SmallRetrievalParams = SmallRetrievalParams()


@dataclass
class Scored:
    """F_s's answer for every query of one gallery, per direction."""

    ranks: dict[str, np.ndarray]  # rank of the correct item (0 = top-1 right)
    top1: dict[str, np.ndarray]  # F_s's top item (gallery index within this split)
    shape: dict[str, np.ndarray]  # (n_queries, top_m) z-scored top similarities
    max_prob: dict[str, np.ndarray]  # max softmax over the gallery at F_s's logit scale
    sim: np.ndarray | None = None  # (n_images, n_captions), kept for val and test (F_l re-ranks them)

    @classmethod
    def zeros(cls, n_images: int, n_captions: int, top_m: int) -> Scored:
        """Empty per-query arrays for a split, filled fold by fold."""
        n = {"i2t": n_images, "t2i": n_captions}
        return cls({d: np.zeros(n[d], np.int64) for d in n}, {d: np.zeros(n[d], np.int64) for d in n},
                   {d: np.zeros((n[d], top_m), np.float32) for d in n}, {d: np.zeros(n[d]) for d in n})


def shape_features(q: np.ndarray, top_m: int) -> np.ndarray:
    """The top-m similarities of each query row, z-scored within the row, descending."""
    m = min(top_m, q.shape[1])
    top = -np.sort(-np.partition(q, q.shape[1] - m, axis=1)[:, q.shape[1] - m:], axis=1)
    z = (top - q.mean(1, keepdims=True)) / np.maximum(q.std(1, keepdims=True), 1e-12)
    if m < top_m:  # a gallery smaller than top_m: pad with the last value
        z = np.concatenate([z, np.repeat(z[:, -1:], top_m - m, axis=1)], axis=1)
    return z.astype(np.float32)


def score(model, data: SplitData, top_m: int, keep_sim: bool = False) -> Scored:
    sim = model.similarity(data.image_x, data.text_x)
    scale = float(model.logit_scale.detach().exp())
    out = Scored({}, {}, {}, {}, sim if keep_sim else None)
    for d in DIRECTIONS:
        q = directional(sim, d)
        out.ranks[d] = ranks_of(sim, data.caption_to_image, d)
        out.top1[d] = q.argmax(1)
        out.shape[d] = shape_features(q, top_m)
        logits = scale * (q - q.max(1, keepdims=True))
        out.max_prob[d] = 1.0 / np.exp(logits).sum(1)
    return out


def chunks(rows: np.ndarray, size: int, seed: int) -> list[np.ndarray]:
    """`rows` shuffled and cut into near-equal galleries of at most `size` images."""
    n = max(1, int(np.ceil(len(rows) / size)))
    return [np.sort(c) for c in np.array_split(np.random.default_rng(seed).permutation(rows), n)]


class RetrievalTask:
    """The data of one retrieval experiment, as the loop sees it. One large model (the CLIP whose
    embeddings the splits hold), so `larges` is (None,); ids: split (val, test) -> direction -> query ids."""

    views = DIRECTIONS
    larges = (None,)
    judge_routers = ("mlp", "kan")
    only_binary_judges = True
    loop_systems = ("mcm", "kcm")
    hint_key = "alpha"
    metric = "r1"
    judge_facts = ("width", "n_params", "flops")

    def __init__(self, splits: dict[str, SplitData], large_scale: float, params: RetrievalParams,
                 weights: DistillWeights, ids: dict[str, dict[str, np.ndarray]]):
        self.splits, self.large_scale = splits, float(large_scale)
        self.params, self.weights, self.ids = params, weights, ids

    @property
    def n_train(self) -> int:
        return self.splits["train"].n_images

    def folds(self, n_folds: int, seed: int):
        return KFold(n_folds, shuffle=True, random_state=seed).split(np.arange(self.n_train))

    def queries(self, view: str, rows: np.ndarray) -> np.ndarray:
        """i2t: the images themselves; t2i: their captions."""
        return rows if view == "i2t" else self.splits["train"].captions_of(rows)

    def fit_small(self, rows: np.ndarray, teachers: RetrievalTeachers, seed: int):
        train = self.splits["train"]
        rows = np.sort(rows)
        caps = train.captions_of(rows)  # sorted, as sub() orders them
        sub = train.sub(rows)
        return fit_small_retrieval(sub.image_x, sub.text_x, sub.caption_to_image, self.params.small, seed,
                                   teachers.rows(rows, caps), self.weights.lambda_ls, self.weights.temperature)

    def empty_train_outputs(self) -> Scored:
        train = self.splits["train"]
        return Scored.zeros(train.n_images, len(train.caption_to_image), self.params.top_m)

    def fill_held_out(self, oof: Scored, model, held_out: np.ndarray, seed: int) -> None:
        """Score the held-out images and their captions in test-sized galleries."""
        train = self.splits["train"]
        for images in chunks(held_out, self.splits["test"].n_images, seed):
            caps = train.captions_of(images)
            s = score(model, train.sub(images), self.params.top_m)
            rows = {"i2t": images, "t2i": caps}
            back = {"i2t": caps, "t2i": images}  # gallery index -> training index
            for d in DIRECTIONS:
                oof.ranks[d][rows[d]] = s.ranks[d]
                oof.top1[d][rows[d]] = back[d][s.top1[d]]
                oof.shape[d][rows[d]] = s.shape[d]
                oof.max_prob[d][rows[d]] = s.max_prob[d]

    def small_outputs(self, model, split: str) -> Scored:
        return score(model, self.splits[split], self.params.top_m, keep_sim=True)  # val and test: F_l re-ranks them

    def fit_hint(self, model, val: Scored) -> dict[str, float]:
        """alpha per direction: the best val R@1+R@5+R@10 (ties: the smaller alpha)."""
        data = self.splits["val"]
        small_sim = model.similarity(data.image_x, data.text_x)
        large_sim = data.large_image @ data.large_text.T  # once, not once per alpha and direction
        best = {}
        for d in DIRECTIONS:
            results = [(rsum(direction_ranks(data, large_sim, small_sim, val.top1[d], d, a, self.params.shortlist)), -a)
                       for a in self.params.alphas]
            best[d] = -max(results)[1]
        return best

    def answers(self, outputs: Scored, view: str) -> np.ndarray:
        return outputs.ranks[view]

    def correct(self, split: str, view: str, answers: np.ndarray) -> np.ndarray:
        return answers == 0

    def max_softmax(self, outputs: Scored, view: str) -> np.ndarray:
        return outputs.max_prob[view]

    def judge_inputs(self, split: str, outputs: Scored, view: str) -> torch.Tensor:
        x = np.concatenate([self.splits[split].query_features[view], outputs.shape[view]], axis=1)
        return torch.as_tensor(x, dtype=torch.float32)

    def large_answers(self, large: None, state: SmallState, split: str, hinted: bool) -> dict[str, np.ndarray]:
        outputs = getattr(state, split)
        if hinted:
            return large_ranks(self.splits[split], outputs.sim, outputs.top1, state.hint, self.params.shortlist)
        return large_ranks(self.splits[split], outputs.sim, outputs.top1, {d: 0.0 for d in DIRECTIONS}, 0)

    def no_teachers(self) -> RetrievalTeachers:
        return RetrievalTeachers()

    def teachers(self, state: SmallState, large: None, asked: dict, judge_probs: dict | None,
                 hard_labels: bool) -> RetrievalTeachers:
        """F_l's embeddings, each query hinted with F_s's top-1 at this F_s's alpha."""
        train, alpha = self.splits["train"], state.hint
        gallery = {"i2t": train.large_text, "t2i": train.large_image}
        queries = {"i2t": train.large_image, "t2i": train.large_text}
        hinted = {d: (queries[d] + alpha[d] * gallery[d][state.train.top1[d]]).astype(np.float32) for d in DIRECTIONS}
        return RetrievalTeachers(train.large_image, train.large_text, hinted, asked, self.large_scale)

    def column(self, split: str, entry: str, large: None, view: str, small: np.ndarray, large_answer: np.ndarray,
               confidence: np.ndarray, to_large: np.ndarray) -> dict:
        return {"entry": entry, "direction": view, "id": self.ids[split][view], "small_rank": small,
                "large_rank": large_answer, "confidence": confidence, "to_large": to_large,
                "rank": np.where(to_large, large_answer, small)}
