"""The retrieval adapter of the loop on a tiny synthetic task: the judge's shape features, the
hinted and shortlisted large-model scores against brute force, alpha, the routed teachers and
honest out-of-fold training outputs (the loop's run over it: tests/test_loop.py)."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from loop_fakes import RETRIEVAL_CFG, RETRIEVAL_PARAMS, make_retrieval_task, make_split
from retrieval_fakes import uneven_pairing, unit
from scipy import sparse

from kcm import retrieval_metrics as rm
from kcm.loop import core
from kcm.models.small_retrieval import RetrievalTeachers, SmallRetrieval
from kcm.tasks.retrieval import ranking
from kcm.tasks.retrieval import task as rt

pytestmark = pytest.mark.usefixtures("one_torch_thread")

make_task = make_retrieval_task


# --------------------------------------------------------------------------- shape features


def brute_shape(q, top_m):
    out = []
    for row in q:
        top = sorted(row, reverse=True)[:top_m]
        z = [(v - row.mean()) / row.std() for v in top]
        out.append(z + [z[-1]] * (top_m - len(z)))
    return np.array(out)


@pytest.mark.parametrize("n_gallery", [3, 8, 30])
def test_shape_features_are_descending_row_z_scores_padded(n_gallery):
    q = np.random.default_rng(n_gallery).normal(size=(7, n_gallery))
    got = rt.shape_features(q, 8)
    assert got.shape == (7, 8) and got.dtype == np.float32
    np.testing.assert_allclose(got, brute_shape(q, 8), rtol=1e-5, atol=1e-5)
    assert (np.diff(got, axis=1) <= 0).all()
    if n_gallery < 8:
        assert (got[:, n_gallery:] == got[:, n_gallery - 1:n_gallery]).all()


def test_shape_features_of_a_constant_row_are_finite():
    got = rt.shape_features(np.full((2, 5), 0.3), 4)
    assert np.isfinite(got).all() and (got == 0).all()


# --------------------------------------------------------------------------- chunks


@pytest.mark.parametrize("n,size", [(30, 20), (31, 10), (5, 20), (40, 20)])
def test_chunks_partition_rows_into_near_equal_galleries(n, size):
    rows = np.random.default_rng(0).choice(1000, n, replace=False)
    parts = rt.chunks(rows, size, seed=3)
    assert len(parts) == int(np.ceil(n / size))
    assert sorted(np.concatenate(parts).tolist()) == sorted(rows.tolist())
    sizes = [len(p) for p in parts]
    assert max(sizes) <= size and max(sizes) - min(sizes) <= 1
    assert all((np.diff(p) > 0).all() for p in parts)
    again = rt.chunks(rows, size, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


def test_chunks_depend_on_the_seed():
    rows = np.arange(40)
    a, b = rt.chunks(rows, 10, 0), rt.chunks(rows, 10, 1)
    assert any(not np.array_equal(x, y) for x, y in zip(a, b))


# --------------------------------------------------------------------------- splits and scoring


def test_sub_keeps_captions_with_their_images():
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(6, 10)), rng.normal(size=(6, 12)), rng.normal(size=(6, 16))
    data = make_split(rng, 15, maps)
    data.caption_to_image = uneven_pairing(rng, 15)  # captions not grouped by image
    n_cap = len(data.caption_to_image)
    data.text_x = sparse.csr_matrix(rng.normal(size=(n_cap, 12)).astype(np.float32))
    data.large_text = rng.normal(size=(n_cap, 16)).astype(np.float32)
    data.query_features["t2i"] = np.c_[np.arange(n_cap), np.zeros(n_cap)].astype(np.float32)
    images = np.array([9, 2, 14, 5])  # unsorted on purpose
    sub = data.sub(images)
    kept = np.sort(images)
    caps = data.captions_of(images)
    assert sub.n_images == 4 and len(sub.caption_to_image) == len(caps)
    assert sorted(caps.tolist()) == [c for c in range(n_cap) if data.caption_to_image[c] in images]
    orig_caps = sub.query_features["t2i"][:, 0].astype(int)
    np.testing.assert_array_equal(orig_caps, caps)
    # each kept caption points at the sub-image that is its original image
    np.testing.assert_array_equal(kept[sub.caption_to_image], data.caption_to_image[orig_caps])
    np.testing.assert_array_equal(sub.image_x, data.image_x[kept])
    np.testing.assert_array_equal(sub.large_image, data.large_image[kept])
    np.testing.assert_array_equal(sub.text_x.toarray(), data.text_x[orig_caps].toarray())
    np.testing.assert_array_equal(sub.large_text, data.large_text[orig_caps])
    np.testing.assert_array_equal(sub.query_features["i2t"][:, 0], kept)


def test_score_against_retrieval_metrics():
    task = make_task()
    data = task.splits["val"]
    model = SmallRetrieval(data.image_x.shape[1], data.text_x.shape[1], 8, seed=0)
    with torch.no_grad():
        model.logit_scale.fill_(np.log(7.0))
    s = rt.score(model, data, top_m=4, keep_sim=True)
    sim = model.similarity(data.image_x, data.text_x)
    np.testing.assert_array_equal(s.sim, sim)
    np.testing.assert_array_equal(s.ranks["i2t"], rm.i2t_ranks(sim, data.caption_to_image))
    np.testing.assert_array_equal(s.ranks["t2i"], rm.t2i_ranks(sim, data.caption_to_image))
    for d, q in (("i2t", sim), ("t2i", sim.T)):
        np.testing.assert_array_equal(s.top1[d], q.argmax(1))
        np.testing.assert_allclose(s.shape[d], brute_shape(q, 4), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(s.max_prob[d], torch.softmax(7.0 * torch.as_tensor(q), 1).max(1).values.numpy())
    # rank 0 exactly where the top-1 item is a correct one
    c2i = data.caption_to_image
    np.testing.assert_array_equal(s.ranks["i2t"] == 0, c2i[s.top1["i2t"]] == np.arange(data.n_images))
    np.testing.assert_array_equal(s.ranks["t2i"] == 0, s.top1["t2i"] == c2i)
    assert rt.score(model, data, 4).sim is None


# --------------------------------------------------------------------------- hinted large scores


def random_pairing_scores(seed, n_images=12, d=8):
    rng = np.random.default_rng(seed)
    c2i = uneven_pairing(rng, n_images)
    large_image = unit(rng.normal(size=(n_images, d)))
    large_text = unit(large_image[c2i] + rng.normal(size=(len(c2i), d)))
    small = rng.uniform(-1, 1, (n_images, len(c2i)))
    return rng, c2i, large_image, large_text, small


def test_hinted_scores_without_shortlist_add_the_hint_in_the_large_space():
    rng, c2i, img, txt, small = random_pairing_scores(0)
    hint = rng.integers(0, len(c2i), len(img))
    got = ranking.hinted_scores(img @ txt.T, txt, hint, 0.25, small, 0)
    want = np.array([[(img[i] + 0.25 * txt[hint[i]]) @ txt[c] for c in range(len(c2i))] for i in range(len(img))])
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_array_equal(ranking.hinted_scores(img @ txt.T, txt, hint, 0.0, small, 0), img @ txt.T)
    # a shortlist covering the whole gallery is no shortlist
    np.testing.assert_array_equal(ranking.hinted_scores(img @ txt.T, txt, hint, 0.25, small, 10_000), got)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("direction", ranking.DIRECTIONS)
def test_shortlist_ranks_match_brute_force(seed, direction):
    rng, c2i, img, txt, small = random_pairing_scores(seed)
    k, alpha = 4, 0.5
    large_q = ranking.directional(img @ txt.T, direction)
    gallery = txt if direction == "i2t" else img
    small_q = ranking.directional(small, direction)
    hint = rng.integers(0, gallery.shape[0], large_q.shape[0])
    s = ranking.hinted_scores(large_q, gallery, hint, alpha, small_q, k)
    got = ranking.ranks_of(ranking.directional(s, direction), c2i, direction)
    small_ranks = ranking.ranks_of(small, c2i, direction)
    cases = set()
    for q in range(large_q.shape[0]):
        shortlist = set(np.argsort(-small_q[q])[:k].tolist())
        correct = set(np.flatnonzero(c2i == q).tolist()) if direction == "i2t" else {int(c2i[q])}
        hinted = large_q[q] + alpha * gallery[hint[q]] @ gallery.T
        inside = correct & shortlist
        if not inside:  # F_l never sees the match: F_s's rank stands
            want = small_ranks[q]
        else:  # rank among the shortlist by the hinted large score
            best = max(hinted[g] for g in inside)
            want = sum(1 for g in shortlist - correct if hinted[g] >= best)
        assert got[q] == want, (q, got[q], want)
        cases.add(bool(inside))
    assert cases == {True, False}  # both cases were exercised


def test_large_ranks_without_hint_or_shortlist_are_plain_large_ranks():
    data = make_task().splits["test"]
    small_sim = np.random.default_rng(0).uniform(-1, 1, (data.n_images, len(data.caption_to_image)))
    top1 = {"i2t": small_sim.argmax(1), "t2i": small_sim.argmax(0)}
    got = ranking.large_ranks(data, small_sim, top1, {"i2t": 0.0, "t2i": 0.0}, 0)
    sim = data.large_image @ data.large_text.T
    np.testing.assert_array_equal(got["i2t"], rm.i2t_ranks(sim, data.caption_to_image))
    np.testing.assert_array_equal(got["t2i"], rm.t2i_ranks(sim, data.caption_to_image))
    # a hint changes them (and only the asked direction's alpha matters for that direction)
    hinted = ranking.large_ranks(data, small_sim, top1, {"i2t": 1.0, "t2i": 0.0}, 0)
    assert not np.array_equal(hinted["i2t"], got["i2t"])
    np.testing.assert_array_equal(hinted["t2i"], got["t2i"])


# --------------------------------------------------------------------------- alpha and teachers


def blind_model():
    return SimpleNamespace(similarity=lambda image_x, text_x: np.zeros((len(image_x), text_x.shape[0])))


def with_params(task, **params):
    task.params = replace(RETRIEVAL_PARAMS, **params)
    return task


def right_hints(data):
    c2i = data.caption_to_image
    first = np.array([np.flatnonzero(c2i == i)[0] for i in range(data.n_images)])
    return {"i2t": first, "t2i": c2i.copy()}


def test_fit_alpha_trusts_a_right_hint_when_the_large_model_is_poor():
    task = make_task()
    val = task.splits["val"]
    rng = np.random.default_rng(0)
    val.large_image = unit(rng.normal(size=val.large_image.shape)).astype(np.float32)  # F_l knows nothing
    val.large_text = unit(rng.normal(size=val.large_text.shape)).astype(np.float32)
    with_params(task, alphas=(0.0, 0.01, 1.0), shortlist=0)
    assert task.fit_hint(blind_model(), SimpleNamespace(top1=right_hints(val))) == {"i2t": 1.0, "t2i": 1.0}


def test_fit_alpha_breaks_ties_toward_the_smaller_alpha():
    task = make_task()
    val = task.splits["val"]
    val.large_text = val.large_image[val.caption_to_image]  # F_l is perfect: every alpha ties
    with_params(task, alphas=(1.0, 0.5, 0.0, 0.25), shortlist=0)
    assert task.fit_hint(blind_model(), SimpleNamespace(top1=right_hints(val))) == {"i2t": 0.0, "t2i": 0.0}


def test_routed_teachers_ask_at_or_below_eps_with_the_hinted_query():
    task = make_task()
    train = task.splits["train"]
    rng = np.random.default_rng(2)
    n = {"i2t": train.n_images, "t2i": len(train.caption_to_image)}
    top1 = {"i2t": rng.integers(0, n["t2i"], n["i2t"]), "t2i": rng.integers(0, n["i2t"], n["t2i"])}
    scored = SimpleNamespace(top1=top1, shape={d: np.zeros((n[d], 4), np.float32) for d in n})
    p = {d: rng.random(n[d]) for d in n}
    p["i2t"][0] = 0.6  # exactly eps: asked
    probs = {d: np.c_[1 - p[d], p[d]] for d in n}  # a binary judge's cross-fitted probabilities
    alpha = {"i2t": 0.25, "t2i": 0.5}
    cfg = core.LoopConfig(eps=0.6)
    state = core.SmallState(None, scored, None, None, alpha)
    teachers, asked = core.routed_teachers(task, state, None, "kcm", probs, cfg)
    for d in n:
        np.testing.assert_array_equal(teachers.asked[d], p[d] <= 0.6)
        np.testing.assert_array_equal(asked[d], teachers.asked[d])
    assert teachers.asked["i2t"][0] and teachers.scale == 20.0
    np.testing.assert_allclose(teachers.query["i2t"], train.large_image + 0.25 * train.large_text[top1["i2t"]],
                               atol=1e-6)
    np.testing.assert_allclose(teachers.query["t2i"], train.large_text + 0.5 * train.large_image[top1["t2i"]],
                               atol=1e-6)
    np.testing.assert_array_equal(teachers.image, train.large_image)
    np.testing.assert_array_equal(teachers.text, train.large_text)


# --------------------------------------------------------------------------- fitting F_s on train


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_fit_small_uses_only_the_teachers_of_its_rows():
    task = make_task()
    train = task.splits["train"]
    n_img, n_cap = train.n_images, len(train.caption_to_image)
    rng = np.random.default_rng(3)
    img, txt = train.large_image, train.large_text
    rows = np.sort(rng.choice(n_img, 30, replace=False))
    caps = train.captions_of(rows)

    def teachers(asked_images, asked_caps):
        asked = {"i2t": np.isin(np.arange(n_img), asked_images), "t2i": np.isin(np.arange(n_cap), asked_caps)}
        return RetrievalTeachers(img, txt, {"i2t": img[rng.permutation(n_img)], "t2i": txt}, asked, 20.0)

    others = np.setdiff1d(np.arange(n_img), rows)
    plain = weights(task.fit_small(rows, RetrievalTeachers(), 0))
    leak = weights(task.fit_small(rows[::-1], teachers(others, train.captions_of(others)), 0))
    assert same(plain, leak)  # held-out queries' teachers (and row order) do not matter
    taught = weights(task.fit_small(rows, teachers(rows, caps), 0))
    assert not same(plain, taught)


def test_train_small_is_out_of_fold_in_test_sized_galleries(monkeypatch):
    task = make_task()
    train = task.splits["train"]
    fits, scorings = [], []
    fit_small, score = rt.RetrievalTask.fit_small, rt.score

    def spy_fit(self, rows, teachers, seed):
        model = fit_small(self, rows, teachers, seed)
        fits.append((model, np.sort(rows)))
        return model

    def spy_score(model, data, top_m, keep_sim=False):
        scorings.append((model, data))
        return score(model, data, top_m, keep_sim)

    monkeypatch.setattr(rt.RetrievalTask, "fit_small", spy_fit)
    monkeypatch.setattr(rt, "score", spy_score)
    state = core.train_small(task, RetrievalTeachers(), RETRIEVAL_CFG, seed=0)

    assert len(fits) == RETRIEVAL_CFG.folds + 1
    held = [np.setdiff1d(np.arange(train.n_images), rows) for _, rows in fits[:-1]]
    assert sorted(np.concatenate(held).tolist()) == list(range(train.n_images))  # folds partition train
    np.testing.assert_array_equal(fits[-1][1], np.arange(train.n_images))
    assert state.model is fits[-1][0]
    rows_of = {id(m): rows for m, rows in fits}
    seen = []
    for model, data in scorings:
        if data is task.splits["val"] or data is task.splits["test"]:
            assert model is state.model
            continue
        images = data.query_features["i2t"][:, 0].astype(int)
        caps = data.query_features["t2i"][:, 0].astype(int)
        fitted = rows_of[id(model)]
        assert model is not state.model
        assert not np.isin(images, fitted).any()  # never scores an image it was trained on
        assert not np.isin(caps, train.captions_of(fitted)).any()
        assert data.n_images <= task.splits["test"].n_images
        np.testing.assert_array_equal(caps, train.captions_of(images))
        # OOF outputs point inside the same held-out gallery and are stored at the query's row
        assert np.isin(state.train.top1["i2t"][images], caps).all()
        assert np.isin(state.train.top1["t2i"][caps], images).all()
        again = score(model, data, task.params.top_m)
        for d, rows in (("i2t", images), ("t2i", caps)):
            np.testing.assert_array_equal(state.train.ranks[d][rows], again.ranks[d])
            np.testing.assert_array_equal(state.train.shape[d][rows], again.shape[d])
            np.testing.assert_array_equal(state.train.max_prob[d][rows], again.max_prob[d])
        seen.append(images)
    assert sorted(np.concatenate(seen).tolist()) == list(range(train.n_images))  # each scored once
    assert state.test.sim is not None and state.val.sim is not None and state.train.sim is None
