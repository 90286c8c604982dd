"""The small retrieval model F_s: its losses against brute-force references, the teacher's
logits, the fixed featurizer, and a fit that is deterministic, leaves the global RNG alone,
learns an easy pairing and is moved by (only) the asked teachers."""

import numpy as np
import pytest
import torch
from retrieval_fakes import uneven_pairing, unit
from scipy import sparse

from kcm import retrieval_metrics as rm
from kcm.models import small_retrieval as sr
from kcm.models.contrastive import MAX_LOGIT_SCALE

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def latent_pairs(rng, n_images, A, B, noise=0.3):
    """Images and captions that are two linear views of one latent code per image."""
    z = rng.normal(size=(n_images, A.shape[0]))
    c2i = uneven_pairing(rng, n_images, 2)
    image_x = (z @ A + noise * rng.normal(size=(n_images, A.shape[1]))).astype(np.float32)
    text_x = (z[c2i] @ B + noise * rng.normal(size=(len(c2i), B.shape[1]))).astype(np.float32)
    return image_x, text_x, c2i


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


FAST = sr.SmallRetrievalParams(dim=8, steps=25, batch_size=12, lr=0.02)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(5, 10)), rng.normal(size=(5, 14))
    return latent_pairs(rng, 30, A, B)


# --------------------------------------------------------------------------- contrastive loss


def brute_contrastive(logits, c2i):
    n_images, n_captions = logits.shape
    t2i = []
    for c in range(n_captions):
        col = logits[:, c]
        t2i.append(-(col[c2i[c]] - np.log(np.exp(col).sum())))
    i2t = []
    for i in range(n_images):
        p = np.exp(logits[i]) / np.exp(logits[i]).sum()
        i2t.append(-np.log(sum(p[c] for c in range(n_captions) if c2i[c] == i)))
    return (np.mean(t2i) + np.mean(i2t)) / 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contrastive_loss_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    c2i = uneven_pairing(rng, 7)
    logits = 3 * rng.normal(size=(7, len(c2i)))
    got = sr.contrastive_loss(torch.as_tensor(logits), torch.as_tensor(c2i))
    assert float(got) == pytest.approx(brute_contrastive(logits, c2i), rel=1e-10)


def test_contrastive_loss_counts_all_captions_of_an_image_as_positives():
    # image 0's two captions share its probability mass: its i2t term does not care which one scores
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]], dtype=torch.float64)
    c2i = torch.tensor([0, 0, 1])
    swapped = logits[:, [1, 0, 2]]  # image 0's captions trade scores

    def i2t_part(x):  # the loss is (t2i + i2t) / 2 and t2i is plain cross-entropy over images
        return 2 * float(sr.contrastive_loss(x, c2i)) - float(torch.nn.functional.cross_entropy(x.T, c2i))

    assert i2t_part(swapped) == pytest.approx(i2t_part(logits), rel=1e-12)
    # ... it is the mean over images of -log(softmax mass on the image's own captions)
    p0 = torch.softmax(logits[0], 0)
    p1 = torch.softmax(logits[1], 0)
    assert i2t_part(logits) == pytest.approx(-(float(torch.log(p0[:2].sum())) + float(torch.log(p1[2]))) / 2)
    # the full loss is lower when positives score higher than when negatives do
    good = sr.contrastive_loss(torch.tensor([[5.0, 5.0, 0.0], [0.0, 0.0, 5.0]]), c2i)
    bad = sr.contrastive_loss(torch.tensor([[0.0, 0.0, 5.0], [5.0, 5.0, 0.0]]), c2i)
    assert float(good) < 0.05 < float(bad)


# --------------------------------------------------------------------------- distillation term


def brute_kl(student, teacher, asked, T):
    rows = []
    for s, t in zip(student[asked], teacher[asked]):
        ps, pt = np.exp(s / T) / np.exp(s / T).sum(), np.exp(t / T) / np.exp(t / T).sum()
        rows.append((pt * (np.log(pt) - np.log(ps))).sum())
    return T**2 * np.mean(rows)


def test_distill_term_is_zero_and_differentiable_when_nothing_is_asked():
    student = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    out = sr.distill_term(student, torch.randn(4, 6), np.zeros(4, bool), 2.0)
    assert out.requires_grad and float(out.detach()) == 0.0
    out.backward()
    assert torch.equal(student.grad, torch.zeros_like(student))


@pytest.mark.parametrize("T", [1.0, 2.5])
def test_distill_term_is_t2_times_mean_kl_over_asked_rows(T):
    rng = np.random.default_rng(3)
    student, teacher = 2 * rng.normal(size=(6, 5)), 2 * rng.normal(size=(6, 5))
    asked = np.array([True, False, True, True, False, False])
    got = sr.distill_term(torch.as_tensor(student), torch.as_tensor(teacher, dtype=torch.float32), asked, T)
    assert float(got) == pytest.approx(brute_kl(student, teacher.astype(np.float32), asked, T), rel=1e-5)
    assert float(got) > 0


def test_distill_term_ignores_unasked_rows():
    rng = np.random.default_rng(4)
    asked = np.array([False, True, False, True])
    student = torch.as_tensor(rng.normal(size=(4, 5)), dtype=torch.float32).requires_grad_()
    teacher = torch.as_tensor(rng.normal(size=(4, 5)), dtype=torch.float32)
    base = sr.distill_term(student, teacher, asked, 1.5)
    base.backward()
    assert torch.equal(student.grad[~torch.as_tensor(asked)], torch.zeros(2, 5))
    assert student.grad[torch.as_tensor(asked)].abs().sum() > 0
    s2, t2 = student.detach().clone(), teacher.clone()
    s2[~torch.as_tensor(asked)] += 100 * torch.randn(2, 5)
    t2[~torch.as_tensor(asked)] -= 100 * torch.randn(2, 5)
    assert float(sr.distill_term(s2, t2, asked, 1.5)) == pytest.approx(float(base.detach()), rel=1e-6)


# --------------------------------------------------------------------------- teachers


def make_teachers(rng, n_images, c2i, alpha=0.5, scale=30.0, d=6):
    img, txt = unit(rng.normal(size=(n_images, d))), unit(rng.normal(size=(len(c2i), d)))
    hint_cap, hint_img = rng.integers(0, len(c2i), n_images), rng.integers(0, n_images, len(c2i))
    query = {"i2t": img + alpha * txt[hint_cap], "t2i": txt + alpha * img[hint_img]}
    asked = {"i2t": rng.random(n_images) < 0.5, "t2i": rng.random(len(c2i)) < 0.5}
    teachers = sr.RetrievalTeachers(img.astype(np.float32), txt.astype(np.float32),
                                    {k: v.astype(np.float32) for k, v in query.items()}, asked, scale)
    return teachers, (img, txt, hint_cap, hint_img)


def test_teacher_batch_logits_are_scaled_hinted_dot_products():
    rng = np.random.default_rng(5)
    c2i = uneven_pairing(rng, 8)
    alpha, scale = 0.5, 30.0
    teachers, (img, txt, hint_cap, hint_img) = make_teachers(rng, 8, c2i, alpha, scale)
    images, captions = np.array([1, 4, 6]), np.flatnonzero(np.isin(c2i, [1, 4, 6]))
    i2t, t2i = teachers.batch_logits(images, captions)
    assert i2t.shape == (3, len(captions)) and t2i.shape == (len(captions), 3)
    for a, i in enumerate(images):
        for b, c in enumerate(captions):
            assert float(i2t[a, b]) == pytest.approx(scale * (img[i] + alpha * txt[hint_cap[i]]) @ txt[c], abs=1e-4)
            assert float(t2i[b, a]) == pytest.approx(scale * (txt[c] + alpha * img[hint_img[c]]) @ img[i], abs=1e-4)


def test_teacher_rows_restrict_consistently():
    rng = np.random.default_rng(6)
    c2i = uneven_pairing(rng, 9)
    teachers, _ = make_teachers(rng, 9, c2i)
    images = np.array([0, 3, 5, 8])
    captions = np.flatnonzero(np.isin(c2i, images))
    sub = teachers.rows(images, captions)
    local_i, local_c = np.array([1, 3]), np.array([0, 2, len(captions) - 1])
    for got, want in zip(sub.batch_logits(local_i, local_c), teachers.batch_logits(images[local_i], captions[local_c])):
        assert torch.equal(got, want)
    np.testing.assert_array_equal(sub.asked["i2t"], teachers.asked["i2t"][images])
    np.testing.assert_array_equal(sub.asked["t2i"], teachers.asked["t2i"][captions])
    assert sub.scale == teachers.scale and not sub.empty
    empty = sr.RetrievalTeachers()
    assert empty.empty and empty.rows(images, captions).empty


# --------------------------------------------------------------------------- pairing helpers


def test_captions_by_image_on_unsorted_pairing():
    c2i = np.array([2, 0, 1, 0, 2, 2, 4])
    got = sr.captions_by_image(c2i, 5)
    want = [[1, 3], [2], [0, 4, 5], [], [6]]
    assert [g.tolist() for g in got] == want


def test_positives_mask():
    mask = sr.positives(np.array([1, 0, 1]), 3)
    assert mask.tolist() == [[False, True, False], [True, False, True], [False, False, False]]


# --------------------------------------------------------------------------- featurizer

WORDS = [("red", "blue"), ("cat", "dog"), ("big", "small"), ("sun", "moon"), ("hot", "cold"), ("left", "right")]


def stripes(codes, rng, noise=25):
    """12x12 RGB images: bit b of the code is stripe b (two columns) bright or dark."""
    out = np.empty((len(codes), 12, 12, 3))
    for n, code in enumerate(codes):
        for b in range(6):
            out[n, :, 2 * b:2 * b + 2] = 210 if (code >> b) & 1 else 40
    return np.clip(out + rng.normal(0, noise, out.shape), 0, 255).astype(np.uint8)


def bit_captions(codes, rng):
    """1 or 2 captions per code, naming each bit by a word (order shuffled)."""
    captions, c2i = [], []
    for n, code in enumerate(codes):
        for _ in range(rng.integers(1, 3)):
            words = [WORDS[b][(code >> b) & 1] for b in range(6)]
            captions.append(" ".join(rng.permutation(words)))
            c2i.append(n)
    return captions, np.array(c2i, dtype=np.int64)


def test_downsample_shape_range_and_constant_image():
    images = np.full((2, 10, 7, 3), 51, np.uint8)
    images[1] = 255
    out = sr.downsample(images, 4)
    assert out.shape == (2, 4 * 4 * 3)
    np.testing.assert_allclose(out[0], 0.2)
    np.testing.assert_allclose(out[1], 1.0)


def test_featurizer_shapes_whitening_and_param_count():
    rng = np.random.default_rng(7)
    codes = np.arange(20)
    images = stripes(codes, rng)
    captions, _ = bit_captions(codes, rng)
    params = sr.SmallRetrievalParams(pixels=4, image_dim=5)
    feat = sr.Featurizer.fit(images, captions, params)
    x = feat.images(images)
    assert x.shape == (20, 5) and x.dtype == np.float32
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(x.var(0, ddof=1), 1, rtol=1e-3)  # whitened
    t = feat.texts(captions)
    vocab = len(feat.tfidf.vocabulary_)
    assert sparse.issparse(t) and t.shape == (len(captions), vocab) and 0 < vocab <= params.max_ngrams
    pixels = 4 * 4 * 3
    assert feat.n_params() == pixels + 5 * pixels + 5 + vocab  # mean, components, variances, idf


def test_featurizer_respects_max_ngrams():
    rng = np.random.default_rng(8)
    captions, _ = bit_captions(np.arange(20), rng)
    feat = sr.Featurizer.fit(stripes(np.arange(20), rng), captions, sr.SmallRetrievalParams(pixels=4, image_dim=3,
                                                                                            max_ngrams=10))
    assert feat.texts(captions).shape[1] == 10


def test_featurizer_on_fewer_training_images_than_image_dim_stays_bounded():
    rng = np.random.default_rng(9)
    train = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    captions = ["a red cat", "a blue dog", "red dog", "blue cat", "a cat", "a dog"]
    feat = sr.Featurizer.fit(train, captions, sr.SmallRetrievalParams(pixels=4, image_dim=64))
    held_out = feat.images(rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8))
    assert np.abs(held_out).max() < 100


def test_query_macs():
    rng = np.random.default_rng(10)
    feat = sr.Featurizer.fit(stripes(np.arange(20), rng), bit_captions(np.arange(20), rng)[0],
                             sr.SmallRetrievalParams(pixels=4, image_dim=5))
    model = sr.SmallRetrieval(5, len(feat.tfidf.vocabulary_), 8, seed=0)
    assert sr.query_macs(feat, model, 12.4) == {"image": 5 * 48 + 8 * 5, "text": 99}


# --------------------------------------------------------------------------- the model


def test_model_param_count_and_seeded_init_leave_global_rng_alone():
    before = torch.get_rng_state()
    a, b = sr.SmallRetrieval(10, 14, 8, seed=3), sr.SmallRetrieval(10, 14, 8, seed=3)
    c = sr.SmallRetrieval(10, 14, 8, seed=4)
    assert torch.equal(before, torch.get_rng_state())
    assert same_weights(state(a), state(b)) and not same_weights(state(a), state(c))
    assert a.n_params() == (10 * 8 + 8) + (14 * 8 + 8) + 1
    assert float(a.logit_scale.detach().exp()) == pytest.approx(10.0)


def test_similarity_is_cosine_and_chunking_and_sparsity_do_not_matter(data):
    image_x, text_x, _ = data
    model = sr.SmallRetrieval(image_x.shape[1], text_x.shape[1], 8, seed=0)
    sim = model.similarity(image_x, sparse.csr_matrix(text_x))
    assert sim.shape == (len(image_x), len(text_x)) and sim.dtype == np.float64
    with torch.no_grad():
        img, txt = model.embed(image_x, text_x)
    np.testing.assert_allclose(sim, (img @ txt.T).numpy(), atol=1e-6)
    assert np.abs(sim).max() <= 1 + 1e-6
    np.testing.assert_allclose(model.similarity(image_x, text_x, chunk=7), sim, atol=1e-6)
    assert model.similarity(image_x, sparse.csr_matrix((0, text_x.shape[1]), dtype=np.float32)).shape == (30, 0)


def test_similarity_accepts_float64_images_like_fit_does(data):
    image_x, text_x, c2i = data
    model = sr.fit_small_retrieval(image_x.astype(np.float64), text_x, c2i, FAST, seed=0)
    np.testing.assert_allclose(model.similarity(image_x.astype(np.float64), text_x),
                               model.similarity(image_x, text_x), atol=1e-6)


# --------------------------------------------------------------------------- fitting


def test_fit_is_deterministic_seeded_and_leaves_global_rng_alone(data):
    image_x, text_x, c2i = data
    torch_before, np_before = torch.get_rng_state(), np.random.get_state()
    a = sr.fit_small_retrieval(image_x, sparse.csr_matrix(text_x), c2i, FAST, seed=0)
    assert torch.equal(torch_before, torch.get_rng_state())
    assert np.array_equal(np_before[1], np.random.get_state()[1]) and np_before[2] == np.random.get_state()[2]
    b = sr.fit_small_retrieval(image_x, text_x, c2i, FAST, seed=0)  # dense text: same fit
    c = sr.fit_small_retrieval(image_x, text_x, c2i, FAST, seed=1)
    assert same_weights(state(a), state(b))
    assert not same_weights(state(a), state(c))
    assert not a.training
    untrained = sr.SmallRetrieval(image_x.shape[1], text_x.shape[1], FAST.dim, seed=0)
    assert not same_weights(state(a), state(untrained))


def test_fit_learns_a_linear_pairing_that_generalises():
    rng = np.random.default_rng(11)
    A, B = rng.normal(size=(6, 12)), rng.normal(size=(6, 16))
    train, test = latent_pairs(rng, 120, A, B), latent_pairs(rng, 40, A, B)
    params = sr.SmallRetrievalParams(dim=12, steps=150, batch_size=32, lr=0.03, weight_decay=0.0)
    model = sr.fit_small_retrieval(*train, params, seed=0)
    r = rm.recall_at_k(model.similarity(test[0], test[1]), test[2], ks=(1,))
    assert r["i2t"][1] > 0.8 and r["t2i"][1] > 0.8, r  # chance: 1/40 (untrained: ~0.03)
    assert 0 <= float(model.logit_scale.detach()) <= MAX_LOGIT_SCALE + 1e-6


def test_featurizer_and_fit_learn_words_to_stripes_on_held_out_codes():
    rng = np.random.default_rng(12)
    codes = rng.permutation(64)
    train_codes, test_codes = codes[:48], codes[48:]
    params = sr.SmallRetrievalParams(pixels=6, image_dim=16, dim=16, steps=120, batch_size=24, lr=0.03)
    captions, c2i = bit_captions(train_codes, rng)
    feat = sr.Featurizer.fit(stripes(train_codes, rng), captions, params)
    model = sr.fit_small_retrieval(feat.images(stripes(train_codes, rng)), feat.texts(captions), c2i, params, 0)
    test_captions, test_c2i = bit_captions(test_codes, rng)
    sim = model.similarity(feat.images(stripes(test_codes, rng)), feat.texts(test_captions))
    r = rm.recall_at_k(sim, test_c2i, ks=(1,))
    assert r["i2t"][1] > 0.8 and r["t2i"][1] > 0.8, r  # chance: 1/16


def test_logit_scale_stays_clamped_under_a_huge_learning_rate(data):
    image_x, text_x, c2i = data
    model = sr.fit_small_retrieval(image_x, text_x, c2i, sr.SmallRetrievalParams(dim=8, steps=10, lr=5.0), seed=0)
    assert 0.0 <= float(model.logit_scale.detach()) <= MAX_LOGIT_SCALE


def full_teachers(rng, image_x, c2i, asked_fraction):
    """A teacher with a pairing of its own (captions point at a permuted image)."""
    n = len(image_x)
    img = unit(rng.normal(size=(n, 6))).astype(np.float32)
    txt = unit(img[rng.permutation(n)][c2i] + 0.1 * rng.normal(size=(len(c2i), 6))).astype(np.float32)
    asked = {"i2t": rng.random(n) < asked_fraction, "t2i": rng.random(len(c2i)) < asked_fraction}
    return sr.RetrievalTeachers(img, txt, {"i2t": img, "t2i": txt}, asked, 20.0)


def t2i_kl_to_teacher(model, image_x, text_x, teachers):
    with torch.no_grad():
        student = torch.as_tensor(model.similarity(image_x, text_x).T) * model.logit_scale.exp().double()
    teacher = teachers.scale * torch.as_tensor(teachers.text @ teachers.image.T, dtype=torch.float64)
    return float(sr.distill_term(student, teacher, np.ones(len(teacher), bool), 1.0))


def test_unasked_or_unweighted_teachers_change_nothing(data):
    image_x, text_x, c2i = data
    rng = np.random.default_rng(13)
    plain = state(sr.fit_small_retrieval(image_x, text_x, c2i, FAST, seed=0))
    none_asked = full_teachers(rng, image_x, c2i, 0.0)
    assert not none_asked.asked["i2t"].any() and not none_asked.asked["t2i"].any()
    assert same_weights(plain, state(sr.fit_small_retrieval(image_x, text_x, c2i, FAST, 0, none_asked)))
    all_asked = full_teachers(rng, image_x, c2i, 1.0)
    assert same_weights(plain, state(sr.fit_small_retrieval(image_x, text_x, c2i, FAST, 0, all_asked, lambda_ls=0.0)))


def test_asked_teachers_pull_the_student_toward_the_teacher(data):
    image_x, text_x, c2i = data
    rng = np.random.default_rng(14)
    teachers = full_teachers(rng, image_x, c2i, 1.0)
    params = sr.SmallRetrievalParams(dim=8, steps=60, batch_size=30, lr=0.02)  # whole gallery per batch
    plain = sr.fit_small_retrieval(image_x, text_x, c2i, params, seed=0)
    taught = sr.fit_small_retrieval(image_x, text_x, c2i, params, 0, teachers, lambda_ls=5.0)
    assert not same_weights(state(plain), state(taught))
    kl_plain, kl_taught = (t2i_kl_to_teacher(m, image_x, text_x, teachers) for m in (plain, taught))
    assert kl_taught < 0.5 * kl_plain, (kl_taught, kl_plain)


def test_the_sparse_text_tower_equals_the_dense_one_with_its_gradients(data):
    """TF-IDF rows are embedded sparsely (EmbeddingBag over the non-zero n-grams): the same
    outputs and weight gradients as the dense product, within float rounding."""
    _, text_x, _ = data
    model = sr.SmallRetrieval(4, text_x.shape[1], 8, seed=0)
    rows = sparse.csr_matrix(text_x)
    rows[0] = 0  # a caption without any known n-gram: its bias only
    outputs = {}
    for name, x in (("sparse", rows), ("dense", rows.toarray())):
        model.zero_grad()
        out = model.text_linear(x)
        (out * torch.arange(out.numel()).reshape(out.shape)).sum().backward()
        outputs[name] = out.detach(), model.text.weight.grad.clone(), model.text.bias.grad.clone()
    for a, b in zip(outputs["sparse"], outputs["dense"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(outputs["sparse"][0][0], model.text.bias.detach())
