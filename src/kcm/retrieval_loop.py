"""KCM for image–text retrieval: the closed loop of `kcm.rounds`, with galleries instead of classes.

A query is an image (i2t: find its captions) or a caption (t2i: find its image). Per direction:

- F_s (`kcm.models.small_retrieval`) ranks the gallery by its own similarities S.
- The judge F_j reads a fixed description of the query and the *shape* of F_s's similarity
  distribution for it (the top-m similarities, z-scored within the query's row) and predicts
  whether F_s's top-1 is right; C_x = that probability (retrieval has no class set to take a
  max-softmax over, so every judge here is a binary one: DESIGN.md's "is the small model right"
  variant). C_x > eps: F_s's ranking answers; else F_l is called.
- Prompt modification: F_l re-ranks F_s's top-k shortlist (k = 0: the whole gallery) with the
  query expanded by the hint, F_s's top-1 item: score(g) = (e_q + alpha · e_hint) · e_g in F_l's
  space. Items outside the shortlist keep F_s's order below it, so a query whose match F_s left
  out keeps F_s's rank. alpha (how far F_l trusts the hint) is chosen per direction on val from
  a grid, for each small model: the large model's cached embeddings make every hint free.
- Distillation: asked training queries carry F_l's hinted similarity distribution over the
  in-batch gallery into F_s (`RetrievalTeachers`); the judge term of `kcm.distill` has no
  gallery-shaped distribution to distil and is left out (docs/retrieval.md).

Out-of-fold outputs, as in `kcm.rounds`: training queries are scored by a small model that did
not see them, in galleries of the test gallery's size (chunks of a held-out fold), so judge
features on train look like those on test.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from scipy import sparse
from sklearn.model_selection import KFold

from kcm.judges import Judge, JudgeConfig
from kcm.metrics import route_to_large
from kcm.models.small_retrieval import RetrievalTeachers, SmallRetrievalParams, fit_small_retrieval
from kcm.retrieval_metrics import i2t_ranks, rsum, t2i_ranks

DIRECTIONS = ("i2t", "t2i")
JUDGE_ROUTERS = ("mlp", "kan")
ROUTERS = ("random", "max_softmax", *JUDGE_ROUTERS, "oracle")
LOOP_SYSTEMS = {"mcm": "mlp", "kcm": "kan"}
SHIFT = 10.0  # > any |score| (cosines, hinted ≤ 1 + alpha): puts the shortlist above the rest


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

    def sub(self, images: np.ndarray) -> "SplitData":
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
class RetrievalLoopConfig:
    eps: float = 0.98
    rounds: int = 2
    folds: int = 2
    shortlist: int = 0  # k; 0 = the whole gallery
    alphas: tuple[float, ...] = (0.0, 0.125, 0.25, 0.5, 1.0)
    top_m: int = 8  # similarities the judge reads
    lambda_ls: float = 1.0
    temperature: float = 1.0
    judge: JudgeConfig = JudgeConfig()
    small: SmallRetrievalParams = SmallRetrievalParams()


@dataclass
class Scored:
    """F_s's answer for every query of one gallery, per direction."""

    ranks: dict[str, np.ndarray]  # rank of the correct item (0 = top-1 right)
    top1: dict[str, np.ndarray]  # F_s's top item (gallery index within this split)
    shape: dict[str, np.ndarray]  # (n_queries, top_m) z-scored top similarities
    max_prob: dict[str, np.ndarray]  # max softmax over the gallery at F_s's logit scale
    sim: np.ndarray | None = None  # (n_images, n_captions), kept for the test split

    @classmethod
    def zeros(cls, n_images: int, n_captions: int, top_m: int) -> "Scored":
        """Empty per-query arrays for a split, filled fold by fold."""
        n = {"i2t": n_images, "t2i": n_captions}
        return cls({d: np.zeros(n[d], np.int64) for d in n}, {d: np.zeros(n[d], np.int64) for d in n},
                   {d: np.zeros((n[d], top_m), np.float32) for d in n}, {d: np.zeros(n[d]) for d in n})


@dataclass
class SmallState:
    model: object
    train: Scored  # out of fold, in test-sized galleries
    val: Scored
    test: Scored


def directional(sim: np.ndarray, direction: str) -> np.ndarray:
    """Query × gallery: images × captions for i2t, captions × images for t2i."""
    return sim if direction == "i2t" else sim.T


def ranks_of(sim: np.ndarray, c2i: np.ndarray, direction: str) -> np.ndarray:
    return i2t_ranks(sim, c2i) if direction == "i2t" else t2i_ranks(sim, c2i)


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


def train_small(task: "RetrievalTask", teachers: RetrievalTeachers, cfg: RetrievalLoopConfig, seed: int) -> SmallState:
    """F_s out of fold on train (each held-out fold scored in test-sized galleries), then on all of train."""
    train = task.splits["train"]
    n_img, n_cap = train.n_images, len(train.caption_to_image)
    oof = Scored.zeros(n_img, n_cap, cfg.top_m)
    gallery = task.splits["test"].n_images
    for fit_rows, held_out in KFold(cfg.folds, shuffle=True, random_state=seed).split(np.arange(n_img)):
        model = task.fit_small(fit_rows, teachers, cfg, seed)
        for images in chunks(held_out, gallery, seed):
            caps = train.captions_of(images)
            s = score(model, train.sub(images), cfg.top_m)
            rows = {"i2t": images, "t2i": caps}
            back = {"i2t": caps, "t2i": images}  # gallery index -> training index
            for d in DIRECTIONS:
                oof.ranks[d][rows[d]] = s.ranks[d]
                oof.top1[d][rows[d]] = back[d][s.top1[d]]
                oof.shape[d][rows[d]] = s.shape[d]
                oof.max_prob[d][rows[d]] = s.max_prob[d]
    model = task.fit_small(np.arange(n_img), teachers, cfg, seed)
    return SmallState(model, oof, score(model, task.splits["val"], cfg.top_m),
                      score(model, task.splits["test"], cfg.top_m, keep_sim=True))


def judge_inputs(task: "RetrievalTask", split: str, scored: Scored, d: str) -> torch.Tensor:
    x = np.concatenate([task.splits[split].query_features[d], scored.shape[d]], axis=1)
    return torch.as_tensor(x, dtype=torch.float32)


def fit_judges(task: "RetrievalTask", state: SmallState, kind: str, cfg: RetrievalLoopConfig,
               seed: int) -> dict[str, Judge]:
    """Per direction, a binary judge of "F_s's top-1 is right" (targets from OOF ranks on train)."""
    judges = {}
    for d in DIRECTIONS:
        x_train, x_val = judge_inputs(task, "train", state.train, d), judge_inputs(task, "val", state.val, d)
        y_train = torch.as_tensor((state.train.ranks[d] == 0).astype(int))
        y_val = torch.as_tensor((state.val.ranks[d] == 0).astype(int))
        judge = Judge(x_train.shape[1], 2, replace(cfg.judge, kind=kind, seed=seed))
        judge.fit(x_train, y_train, x_val, y_val)
        judges[d] = judge
    return judges


def judge_test(task: "RetrievalTask", scored: Scored, d: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A judge's test inputs and targets (F_s's top-1 right) for one direction."""
    return judge_inputs(task, "test", scored, d), torch.as_tensor((scored.ranks[d] == 0).astype(int))


def confidence(judge: Judge, x: torch.Tensor) -> np.ndarray:
    return judge.proba(x)[:, 1].double().numpy()


def hinted_scores(large_sim: np.ndarray, large_gallery: np.ndarray, hint: np.ndarray, alpha: float,
                  small_q: np.ndarray, shortlist: int) -> np.ndarray:
    """Query × gallery scores of F_l given F_s's hint and shortlist (see the module docstring).

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


def fit_alpha(task: "RetrievalTask", state: SmallState, cfg: RetrievalLoopConfig) -> dict[str, float]:
    """Per direction, the hint weight with the best val R@1+R@5+R@10 (ties: the smaller alpha)."""
    val = task.splits["val"]
    small_sim = state.model.similarity(val.image_x, val.text_x)
    large_sim = val.large_image @ val.large_text.T  # once, not once per alpha and direction
    best = {}
    for d in DIRECTIONS:
        results = [(rsum(direction_ranks(val, large_sim, small_sim, state.val.top1[d], d, a, cfg.shortlist)), -a)
                   for a in cfg.alphas]
        best[d] = -max(results)[1]
    return best


def teachers_for(task: "RetrievalTask", state: SmallState, judges: dict[str, Judge],
                 alpha: dict[str, float], cfg: RetrievalLoopConfig) -> RetrievalTeachers:
    """Route every training query with the judge (C_x <= eps asks F_l, hinted with F_s's top-1)."""
    train = task.splits["train"]
    asked = {d: confidence(judges[d], judge_inputs(task, "train", state.train, d)) <= cfg.eps for d in DIRECTIONS}
    gallery = {"i2t": train.large_text, "t2i": train.large_image}
    queries = {"i2t": train.large_image, "t2i": train.large_text}
    hinted = {d: (queries[d] + alpha[d] * gallery[d][state.train.top1[d]]).astype(np.float32) for d in DIRECTIONS}
    return RetrievalTeachers(train.large_image, train.large_text, hinted, asked, task.large_scale)


@dataclass
class SystemResult:
    state: SmallState
    judges: dict[str, Judge]
    alpha: dict[str, float]
    history: list[dict] = field(default_factory=list)


def run_system(task: "RetrievalTask", kind: str, state0: SmallState, judges0: dict[str, Judge],
               cfg: RetrievalLoopConfig, seed: int) -> SystemResult:
    state, judges = state0, judges0
    history = []
    for r in range(1, cfg.rounds + 1):
        alpha = fit_alpha(task, state, cfg)
        teachers = teachers_for(task, state, judges, alpha, cfg)
        state = train_small(task, teachers, cfg, seed)
        judges = fit_judges(task, state, kind, cfg, seed)
        history.append({
            "round": r, "alpha": alpha,
            **{f"train_large_fraction_{d}": float(teachers.asked[d].mean()) for d in DIRECTIONS},
            **{f"small_val_r1_{d}": float((state.val.ranks[d] == 0).mean()) for d in DIRECTIONS},
            **{f"small_test_r1_{d}": float((state.test.ranks[d] == 0).mean()) for d in DIRECTIONS},
        })
    return SystemResult(state, judges, fit_alpha(task, state, cfg), history)


def _rows(entry: str, d: str, small_rank, large_rank, conf, to_large) -> dict:
    return {"entry": entry, "direction": d, "query": np.arange(len(small_rank)), "small_rank": small_rank,
            "large_rank": large_rank, "confidence": conf, "to_large": to_large,
            "rank": np.where(to_large, large_rank, small_rank)}


def run_all(task: "RetrievalTask", cfg: RetrievalLoopConfig, seed: int) -> tuple[list[dict], dict, dict[str, Judge], dict]:
    """Every system and router at one seed: per (entry, direction) test columns, a history, the
    judges worth keeping and their test inputs and targets {name: (x, y)}. Entries as in `kcm.rounds.run_all`: system:{small,large,mcm,kcm},
    small:{mcm,kcm} (the distilled F_s alone) and router:{random,max_softmax,mlp,kan,oracle}."""
    test = task.splits["test"]
    state0 = train_small(task, RetrievalTeachers(), cfg, seed)
    judges0 = {kind: fit_judges(task, state0, kind, cfg, seed) for kind in JUDGE_ROUTERS}
    alpha0 = fit_alpha(task, state0, cfg)
    kept = {f"round0_{kind}_{d}": j for kind, js in judges0.items() for d, j in js.items()}
    tests = {f"round0_{kind}_{d}": judge_test(task, state0.test, d) for kind in judges0 for d in DIRECTIONS}
    plain = large_ranks(test, state0.test.sim, state0.test.top1, {d: 0.0 for d in DIRECTIONS}, 0)
    hinted0 = large_ranks(test, state0.test.sim, state0.test.top1, alpha0, cfg.shortlist)
    history: dict = {
        "judges": {kind: {"width": js["i2t"].width, "n_params": js["i2t"].n_params(), "flops": js["i2t"].flops()}
                   for kind, js in judges0.items()},
        "alpha": {"round0": alpha0},
        "systems": {},
    }
    rng = np.random.default_rng(seed)
    columns = []
    for d in DIRECTIONS:
        small = state0.test.ranks[d]
        n = len(small)
        never, always = np.zeros(n, bool), np.ones(n, bool)
        columns.append(_rows("system:small", d, small, hinted0[d], state0.test.max_prob[d], never))
        columns.append(_rows("system:large", d, small, plain[d], np.zeros(n), always))
        conf = {"random": rng.random(n), "max_softmax": state0.test.max_prob[d]}
        for kind, js in judges0.items():
            conf[kind] = confidence(js[d], judge_inputs(task, "test", state0.test, d))
        # the oracle asks F_l exactly where the hinted F_l fixes F_s's top-1
        conf["oracle"] = np.where((small > 0) & (hinted0[d] == 0), 0.0, 1.0)
        for name, c in conf.items():
            columns.append(_rows(f"router:{name}", d, small, hinted0[d], c, route_to_large(c, cfg.eps)))
    for system, kind in LOOP_SYSTEMS.items():
        result = run_system(task, kind, state0, judges0[kind], cfg, seed)
        s = result.state.test
        hinted = large_ranks(test, s.sim, s.top1, result.alpha, cfg.shortlist)
        for d in DIRECTIONS:
            c = confidence(result.judges[d], judge_inputs(task, "test", s, d))
            columns.append(_rows(f"system:{system}", d, s.ranks[d], hinted[d], c, route_to_large(c, cfg.eps)))
            columns.append(_rows(f"small:{system}", d, s.ranks[d], hinted[d], s.max_prob[d],
                                 np.zeros(len(c), bool)))
            kept[f"{system}_{d}"] = result.judges[d]
            tests[f"{system}_{d}"] = judge_test(task, s, d)
        history["systems"][system] = result.history
        history["alpha"][system] = result.alpha
    return columns, history, kept, tests


class RetrievalTask:
    """The data of one retrieval experiment and how to fit F_s on a subset of training images."""

    def __init__(self, splits: dict[str, SplitData], large_scale: float):
        self.splits, self.large_scale = splits, float(large_scale)

    def fit_small(self, rows: np.ndarray, teachers: RetrievalTeachers, cfg: RetrievalLoopConfig, seed: int):
        train = self.splits["train"]
        rows = np.sort(rows)
        caps = train.captions_of(rows)  # sorted, as sub() orders them
        sub = train.sub(rows)
        teachers = teachers.rows(rows, caps)
        return fit_small_retrieval(sub.image_x, sub.text_x, sub.caption_to_image, cfg.small, seed, teachers,
                                   cfg.lambda_ls, cfg.temperature)
