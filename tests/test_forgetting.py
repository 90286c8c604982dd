"""Class-incremental forgetting: metrics, task splits, the protocol on blobs, no future data."""

import numpy as np
import pytest

from kcm.judges import kan_params
from kcm.tasks.forgetting.task import (
    average_accuracy,
    average_forgetting,
    backward_transfer,
    class_incremental_tasks,
    first_task_pca,
    learning_accuracy,
    run_class_incremental,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# R[i][j]: accuracy on task j after training through task i (3 tasks).
R = [
    [0.9, 0.1, 0.0],
    [0.5, 0.8, 0.2],
    [0.3, 0.6, 0.7],
]


def test_metrics_on_a_hand_made_matrix():
    assert average_accuracy(R) == pytest.approx((0.3 + 0.6 + 0.7) / 3)
    # Task 0: best before the last task 0.9, final 0.3; task 1: best 0.8, final 0.6.
    assert average_forgetting(R) == pytest.approx(((0.9 - 0.3) + (0.8 - 0.6)) / 2)
    assert backward_transfer(R) == pytest.approx(((0.3 - 0.9) + (0.6 - 0.8)) / 2)
    assert learning_accuracy(R) == pytest.approx((0.9 + 0.8 + 0.7) / 3)


def test_forgetting_uses_the_best_earlier_accuracy_not_the_first():
    rising = [[0.5, 0.0], [0.9, 0.9]]  # task 0 improved later: negative forgetting (no clamp)
    assert average_forgetting(rising) == pytest.approx(-0.4)
    assert backward_transfer(rising) == pytest.approx(0.4)
    peak = np.array([[0.6, 0, 0], [0.9, 0.7, 0], [0.2, 0.7, 1.0]])  # task 0 peaked after task 1
    assert average_forgetting(peak) == pytest.approx(((0.9 - 0.2) + 0.0) / 2)
    assert backward_transfer(peak) == pytest.approx(((0.2 - 0.6) + 0.0) / 2)
    assert average_forgetting(np.eye(4)) == pytest.approx(1.0)
    assert backward_transfer(np.eye(4)) == pytest.approx(-1.0)
    assert average_accuracy(np.eye(4)) == pytest.approx(0.25)


@pytest.mark.parametrize("bad", [[[1.0]], [[1.0, 0.0]], np.zeros((2, 3)), np.zeros(4)])
def test_metrics_reject_matrices_that_are_not_square_or_too_small(bad):
    with pytest.raises(ValueError):
        average_forgetting(bad)


def test_task_splitting():
    labels = np.array([3, 0, 1, 2, 5, 4, 0, 5])
    tasks = class_incremental_tasks(labels, 2)
    assert [t.tolist() for t in tasks] == [[0, 1], [2, 3], [4, 5]]
    ordered = class_incremental_tasks(labels, 3, order=[5, 3, 1, 0, 2, 4])
    assert [t.tolist() for t in ordered] == [[5, 3, 1], [0, 2, 4]]
    with pytest.raises(ValueError, match="do not split"):
        class_incremental_tasks(labels, 4)
    with pytest.raises(ValueError, match="permutation"):
        class_incremental_tasks(labels, 2, order=[0, 1, 2, 3, 4, 4])
    with pytest.raises(ValueError, match="permutation"):
        class_incremental_tasks(labels, 2, order=[0, 1, 2, 3])


def test_first_task_pca_is_fitted_on_the_first_task_only():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 10)) * np.arange(1, 11)
    y = np.repeat(np.arange(3), 100)
    xt, xs = first_task_pca(x, y, x[:50], [0], 4)
    assert xt.shape == (300, 4) and xs.shape == (50, 4) and xt.dtype == np.float32
    first = xt[y == 0]
    assert np.allclose(first.mean(0), 0, atol=1e-5)  # centred on the first task
    variances = first.var(0)
    assert np.all(np.diff(variances) < 0)  # axes in order of first-task variance
    changed = x.copy()
    changed[y > 0] *= 50  # later tasks do not move the projection
    assert np.array_equal(first_task_pca(changed, y, x[:50], [0], 4)[1], xs)
    with pytest.raises(ValueError):
        first_task_pca(x, y, x, [0], 11)


# --------------------------------------------------------------------------- the protocol


def blobs(n_per_class, seed):
    """Six well-separated Gaussian classes in 8 dimensions (centres fixed, noise by seed)."""
    centres = np.random.default_rng(0).normal(0, 3, (6, 8))
    y = np.repeat(np.arange(6), n_per_class)
    x = centres[y] + np.random.default_rng(seed).normal(0, 1, (len(y), 8))
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def data():
    (xt, yt), (xs, ys) = blobs(60, 1), blobs(40, 2)
    return xt, yt, xs, ys, class_incremental_tasks(yt, 2)


SETTINGS = dict(hidden=(8,), grid_size=5, k=3, epochs_per_task=20, lr=0.03, batch_size=32)


@pytest.fixture(scope="module")
def runs(data):
    xt, yt, xs, ys, tasks = data
    return {kind: run_class_incremental(xt, yt, xs, ys, kind=kind, tasks=tasks, seed=0, **SETTINGS) for kind in ("kan", "mlp")}


@pytest.mark.parametrize("kind", ["kan", "mlp"])
def test_both_learn_each_task_and_forget_the_earlier_ones(runs, kind):
    result = runs[kind]
    R = np.array(result["accuracy_matrix"])
    assert np.array(result["loss_matrix"]).shape == (3, 3)
    assert R.shape == (3, 3) and result["tasks"] == [[0, 1], [2, 3], [4, 5]]
    assert np.all(np.diag(R) > 0.9), R  # the task just learnt
    assert np.all(R[np.triu_indices(3, 1)] < 0.1), R  # classes not yet seen: the head cannot know them
    assert result["average_forgetting"] > 0.3, R  # no replay, no regulariser: it forgets
    assert result["backward_transfer"] < -0.3, R
    assert result["average_accuracy"] == pytest.approx(R[-1].mean())
    assert result["learning_accuracy"] == pytest.approx(np.diag(R).mean())
    assert 0 <= result["final_accuracy"] < 0.9


def test_mlp_is_matched_to_the_kan_parameter_count(runs):
    kan, mlp = runs["kan"], runs["mlp"]
    assert kan["width"] == [8, 8, 6] and kan["n_params"] == kan_params([8, 8, 6], 5, 3)
    assert len(mlp["width"]) == len(kan["width"])  # same depth
    assert abs(mlp["n_params"] - kan["n_params"]) / kan["n_params"] < 0.03


def test_same_seed_same_matrix(data, runs):
    xt, yt, xs, ys, tasks = data
    again = run_class_incremental(xt, yt, xs, ys, kind="kan", tasks=tasks, seed=0, **SETTINGS)
    assert again == runs["kan"]


def test_the_first_task_never_sees_later_data(data):
    """Standardisation and the KAN grid come from task 0: wildly changing later tasks' inputs
    leaves everything measured after task 0 unchanged."""
    xt, yt, xs, ys, tasks = data
    shifted = xt.copy()
    shifted[yt >= 2] = shifted[yt >= 2] * 40 + 100
    short = {**SETTINGS, "epochs_per_task": 3}
    for kind in ("kan", "mlp"):
        a = run_class_incremental(xt, yt, xs, ys, kind=kind, tasks=tasks, seed=1, **short)
        b = run_class_incremental(shifted, yt, xs, ys, kind=kind, tasks=tasks, seed=1, **short)
        assert a["loss_matrix"][0] == b["loss_matrix"][0]  # exact: nothing leaked into task 0
        assert a["loss_matrix"][1] != b["loss_matrix"][1]  # and the change did reach task 1


def test_bad_inputs_fail_early(data):
    xt, yt, xs, ys, tasks = data
    common = dict(x_train=xt, y_train=yt, x_test=xs, y_test=ys, seed=0, **SETTINGS)
    with pytest.raises(ValueError, match="kind"):
        run_class_incremental(kind="cnn", tasks=tasks, **common)
    with pytest.raises(ValueError, match="at least 2"):
        run_class_incremental(kind="mlp", tasks=tasks[:1], **common)
    with pytest.raises(ValueError, match="distinct"):
        run_class_incremental(kind="mlp", tasks=[[0, 1], [1, 2]], **common)
    with pytest.raises(ValueError, match="no training"):
        run_class_incremental(kind="mlp", tasks=[[0, 1], [6, 7]], **common)
    nan = xt.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        run_class_incremental(kind="mlp", tasks=tasks, **{**common, "x_train": nan})
