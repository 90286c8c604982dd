"""BBN (the paper profile's long-tailed baseline): sampler, cumulative learning, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kcm.models.bbn import (
    BBNResNetCifar,
    bbn_alpha,
    bbn_lr,
    fit_bbn,
    predict_proba,
    reversed_class_probs,
    sample_reversed,
)
from kcm.models.resnet_cifar import ResNetCifar

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_reversed_sampler_draws_classes_in_inverse_proportion_to_their_size():
    counts = [60, 20, 5]
    labels = torch.tensor(np.repeat([2, 0, 1], [counts[2], counts[0], counts[1]]))  # classes interleaved out of order
    expected = np.array([1 / 60, 1 / 20, 1 / 5])
    expected /= expected.sum()
    np.testing.assert_allclose(reversed_class_probs(labels.numpy(), 3), expected)
    draws = 40_000
    idx = sample_reversed(labels, 3, draws, torch.Generator().manual_seed(0))
    freq = np.bincount(labels[idx].numpy(), minlength=3) / draws
    sigma = np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(freq - expected) < 4 * sigma)
    # Within a class every sample is equally likely (class 0: 60 rows, ≈ 36 draws each).
    rows0 = np.bincount(idx[labels[idx] == 0].numpy(), minlength=len(labels))[labels.numpy() == 0]
    assert rows0.min() > 0 and rows0.std() / rows0.mean() < 0.35
    again = sample_reversed(labels, 3, draws, torch.Generator().manual_seed(0))
    assert torch.equal(idx, again)


def test_absent_classes_are_never_drawn():
    np.testing.assert_allclose(reversed_class_probs(np.array([0, 0, 2]), 3), [1 / 3, 0, 2 / 3])


def test_cumulative_learning_schedule():
    assert bbn_alpha(0, 200) == 1.0
    assert bbn_alpha(199, 200) == pytest.approx(1 - (199 / 200) ** 2)
    assert bbn_alpha(200, 200) == 0.0
    alphas = [bbn_alpha(e, 10) for e in range(11)]
    assert all(a > b for a, b in zip(alphas, alphas[1:]))
    with pytest.raises(ValueError):
        bbn_alpha(11, 10)


def test_learning_rate_schedule_is_bbns_cifar_recipe():
    lrs = [bbn_lr(0.1, e, 200) for e in range(200)]
    assert lrs[0] == pytest.approx(0.02) and lrs[4] == pytest.approx(0.1) and lrs[5] == 0.1
    assert lrs[119] == 0.1 and lrs[120] == pytest.approx(1e-3) and lrs[160] == pytest.approx(1e-5)
    assert bbn_lr(0.1, 0, 10) == 0.1  # no warm-up on short budgets


def test_bbn_network_shapes_and_inference_mix():
    model = BBNResNetCifar(depth=32, n_classes=100, in_channels=3).eval()
    # ResNet-32 plus a second copy of the last block and a second 64 x 100 classifier half.
    plain = ResNetCifar(32, 100)
    extra_block = sum(p.numel() for p in plain.layer3[-1].parameters())
    assert model.n_params() == plain.n_params() + extra_block + 64 * 100
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        f_c, f_r = model.branch_features(x, "c"), model.branch_features(x, "r")
        assert f_c.shape == f_r.shape == (2, 64)
        torch.testing.assert_close(model(x), model.mixed_logits(f_c, f_r, 0.5))
    assert BBNResNetCifar(depth=8, n_classes=4, in_channels=1)(torch.rand(2, 1, 28, 28)).shape == (2, 4)


def lt_blobs(counts: list[int], seed: int, size: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Class c = a bright 4x4 square in corner c of a noisy grayscale image."""
    rng = np.random.default_rng(seed)
    corners = [(1, 1), (1, size - 5), (size - 5, 1)]
    xs, ys = [], []
    for c, n in enumerate(counts):
        x = rng.integers(0, 80, size=(n, size, size, 1))
        r, q = corners[c]
        x[:, r : r + 4, q : q + 4] += 150
        xs.append(x)
        ys += [c] * n
    return np.concatenate(xs).astype(np.uint8), np.array(ys)


def test_bbn_trains_on_a_long_tailed_task_and_is_deterministic():
    x, y = lt_blobs([48, 12, 3], seed=0)
    x_test, y_test = lt_blobs([30, 30, 30], seed=1)
    state = torch.get_rng_state()
    fit = lambda seed: fit_bbn(x, y, epochs=8, batch_size=16, lr=0.05, seed=seed, depth=8, width=8,  # noqa: E731
                               device="cpu")
    model = fit(0)
    probs = predict_proba(model, x_test)
    assert torch.equal(state, torch.get_rng_state())
    assert probs.shape == (90, 3) and probs.dtype == np.float64
    accuracy = (probs.argmax(1) == y_test).mean()
    assert accuracy > 0.6, accuracy  # chance: 1/3 on the balanced test set
    assert np.array_equal(probs, predict_proba(fit(0), x_test))
    assert not np.array_equal(probs, predict_proba(fit(1), x_test))


def test_bbn_as_the_vision_large_model_gives_out_of_fold_train_rows():
    """kcm.tasks.vision.bbn_large: val/test rows come from BBN fitted on all of train, train rows from
    the fold models, which never saw them (the fold model's outputs, not the full model's)."""
    from kcm.tasks.vision.bbn_large import BBNParams, bbn_probabilities

    x, y = lt_blobs([24, 12, 6], seed=0)
    x_test, _ = lt_blobs([10, 10, 10], seed=1)
    p = BBNParams(depth=8, width=8, epochs=3, batch_size=16, lr=0.05, weight_decay=2e-4, folds=2, C=1.0)
    probs = bbn_probabilities({"train": x, "test": x_test}, y, 3, p, seed=0)
    assert probs["train"].shape == (42, 3) and probs["test"].shape == (30, 3)
    np.testing.assert_allclose(probs["train"].sum(1), 1.0)
    full = fit_bbn(x, y, epochs=3, batch_size=16, lr=0.05, seed=0, n_classes=3, depth=8, width=8, device="cpu")
    assert np.array_equal(probs["test"], predict_proba(full, x_test))
    assert not np.allclose(probs["train"], predict_proba(full, x))  # not the in-sample outputs
