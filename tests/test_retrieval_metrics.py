import numpy as np
import pytest

from kcm import retrieval_metrics as rm


def brute_ranks(sim, c2i):
    """Loop reference: a wrong item counts above the query's best correct one when it scores ≥."""
    n_images, n_captions = sim.shape
    i2t = []
    for i in range(n_images):
        best = max(sim[i, c] for c in range(n_captions) if c2i[c] == i)
        i2t.append(sum(1 for c in range(n_captions) if c2i[c] != i and sim[i, c] >= best))
    t2i = []
    for c in range(n_captions):
        own = sim[c2i[c], c]
        t2i.append(sum(1 for i in range(n_images) if i != c2i[c] and sim[i, c] >= own))
    return np.array(i2t), np.array(t2i)


def brute_recall(ranks, k):
    return sum(1 for r in ranks if r < k) / len(ranks)


def uneven_captions(rng, n_images):
    counts = rng.integers(1, 7, size=n_images)  # 1..6 captions per image, as uneven as real data
    c2i = np.repeat(np.arange(n_images), counts)
    return c2i[rng.permutation(len(c2i))]  # captions not grouped by image


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_on_random_embeddings(seed):
    rng = np.random.default_rng(seed)
    n_images = 40
    c2i = uneven_captions(rng, n_images)
    img = rng.normal(size=(n_images, 8))
    txt = img[c2i] + 1.5 * rng.normal(size=(len(c2i), 8))  # noisy pairing: ranks spread out
    sim = img @ txt.T
    i2t, t2i = brute_ranks(sim, c2i)
    np.testing.assert_array_equal(rm.i2t_ranks(sim, c2i), i2t)
    np.testing.assert_array_equal(rm.t2i_ranks(sim, c2i), t2i)
    got = rm.recall_at_k(sim, c2i, ks=(1, 5, 10))
    for k in (1, 5, 10):
        assert got["i2t"][k] == pytest.approx(brute_recall(i2t, k))
        assert got["t2i"][k] == pytest.approx(brute_recall(t2i, k))
    assert 0 < got["t2i"][1] < got["t2i"][10] < 1  # the test really spans the ranks


def test_chunking_does_not_change_ranks(monkeypatch):
    rng = np.random.default_rng(3)
    c2i = uneven_captions(rng, 30)
    sim = rng.normal(size=(30, len(c2i))).round(1)  # rounded: many ties across chunk borders
    full = rm.i2t_ranks(sim, c2i), rm.t2i_ranks(sim, c2i)
    monkeypatch.setattr(rm, "_CHUNK", 7)
    np.testing.assert_array_equal(rm.i2t_ranks(sim, c2i), full[0])
    np.testing.assert_array_equal(rm.t2i_ranks(sim, c2i), full[1])
    np.testing.assert_array_equal(full[0], brute_ranks(sim, c2i)[0])
    np.testing.assert_array_equal(full[1], brute_ranks(sim, c2i)[1])


def test_ties_are_pessimistic():
    c2i = np.array([0, 0, 1, 2])
    sim = np.array([
        [0.9, 0.9, 0.9, 0.1],  # image 0: its best caption ties a wrong one -> rank 1
        [0.5, 0.5, 0.5, 0.5],  # image 1: everything tied -> all 3 wrong captions above
        [0.2, 0.1, 0.0, 0.7],  # image 2: strictly first
    ])
    np.testing.assert_array_equal(rm.i2t_ranks(sim, c2i), [1, 3, 0])
    # caption 0: image 0 scores 0.9, nobody ties; caption 2: image 1 (0.5) is below image 0 (0.9)
    # caption 3: image 2 (0.7) first; caption 1: image 0 (0.9) above image 1 (0.5)
    np.testing.assert_array_equal(rm.t2i_ranks(sim, c2i), [0, 0, 1, 0])
    r = rm.recall_at_k(sim, c2i, ks=(1, 2))
    assert r["i2t"] == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3)}
    assert r["t2i"] == {1: pytest.approx(3 / 4), 2: 1.0}


def test_two_correct_captions_tied_at_the_top_do_not_hurt_each_other():
    c2i = np.array([0, 0, 1])
    sim = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(rm.i2t_ranks(sim, c2i), [0, 0])


def test_constant_similarity_scores_zero_not_chance():
    c2i = np.repeat(np.arange(4), 5)
    r = rm.recall_at_k(np.zeros((4, 20)), c2i, ks=(1, 5))
    assert r["i2t"] == {1: 0.0, 5: 0.0}  # 15 wrong captions tie with every correct one
    assert r["t2i"] == {1: 0.0, 5: 1.0}  # 3 wrong images tie: rank 3 < 5


def test_k_larger_than_gallery_is_one():
    rng = np.random.default_rng(0)
    c2i = np.array([0, 1, 1, 2])
    sim = rng.normal(size=(3, 4))
    r = rm.recall_at_k(sim, c2i, ks=(100,))
    assert r == {"i2t": {100: 1.0}, "t2i": {100: 1.0}}


def test_perfect_retrieval():
    c2i = np.array([0, 0, 1, 2, 2, 2])
    sim = (np.arange(3)[:, None] == c2i[None, :]).astype(float)
    r = rm.recall_at_k(sim, c2i)
    assert r == {"i2t": {1: 1.0, 5: 1.0, 10: 1.0}, "t2i": {1: 1.0, 5: 1.0, 10: 1.0}}


@pytest.mark.parametrize("sim, c2i, match", [
    (np.zeros((2, 3)), np.array([0, 1]), "shape"),
    (np.zeros((2, 2)), np.array([0, 2]), "outside"),
    (np.zeros((2, 2)), np.array([0, 0]), "at least one caption"),
    (np.zeros((2, 2)), np.array([0.0, 1.0]), "integers"),
    (np.array([[np.nan, 0.0], [0.0, 0.0]]), np.array([0, 1]), "NaN"),
])
def test_bad_inputs_are_errors(sim, c2i, match):
    with pytest.raises(ValueError, match=match):
        rm.recall_at_k(sim, c2i)


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="K must be"):
        rm.recall_from_ranks(np.array([0, 1]), ks=(0,))


def test_rsum_is_the_sum_of_recall_at_1_5_10():
    from kcm.retrieval_metrics import recall_from_ranks, rsum

    ranks = np.array([0, 0, 3, 7, 12, 40])
    assert rsum(ranks) == pytest.approx(sum(recall_from_ranks(ranks).values()))
    assert rsum(ranks) == pytest.approx(2 / 6 + 3 / 6 + 4 / 6)
