"""The SHARe-KAN sweep: every trained head scored on validation and test, operating points chosen
on validation only, the multi-head study at every precision."""

import pytest
import torch

from kcm.kan import KAN
from kcm.share_select import VERDICT_COST, choose
from kcm.tasks.share import experiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")
WIDTH = (6, 4, 3)
PARAMS = {"codebook_sizes": [2, 8, 64], "precisions": ["fp32", "int8", "int8+base"], "prune": [0.5],
          "multi_head": [1, 5], "k": 8, "gain": "norm", "seed": 0}


def _row(k, precision, ratio, val, test):
    return {"method": "share", "k": k, "precision": precision, "ratio": ratio, "val_accuracy": val, "accuracy": test}


def test_choose_reads_validation_only():
    rows = [{"method": "dense", "ratio": 1.0, "val_accuracy": 0.80, "accuracy": 0.70},
            _row(16, "int8", 12.0, 0.70, 0.70),  # best on test, 10 points down on validation
            _row(64, "int8", 9.0, 0.785, 0.60),  # within 2 points on validation (1.5)
            _row(256, "int8", 8.0, 0.80, 0.70)]
    sweep = {"head": {"dense_val_accuracy": 0.80, "dense_accuracy": 0.70}, "rows": rows}
    assert choose(sweep, VERDICT_COST)["k"] == 64
    assert choose(sweep, 0.01)["k"] == 256
    for r in rows:  # whatever the test accuracies, the choice stays
        r["accuracy"] = 1.0 - r["accuracy"]
    assert choose(sweep, VERDICT_COST)["k"] == 64
    assert choose({**sweep, "head": {**sweep["head"], "dense_val_accuracy": 0.99}}, VERDICT_COST) is None


def _heads():
    heads = []
    g = torch.Generator().manual_seed(3)
    for seed in range(3):
        kan = KAN(list(WIDTH), grid_size=5, k=3, seed=seed).eval()
        with torch.no_grad():
            for layer in kan.layers:
                layer.coef.normal_(0, 0.5, generator=g)
                layer.scale_base.zero_()  # spline-only, as share.head.base = false
        heads.append(kan)
    return heads


@pytest.fixture
def fake_heads(monkeypatch):
    """`kcm.tasks.share.experiment` on three small random heads and random features / labels."""
    heads = _heads()
    g = torch.Generator().manual_seed(4)
    x = {s: torch.randn(80, WIDTH[0], generator=g) for s in ("val", "test")}
    y = {s: torch.randint(0, WIDTH[-1], (80,), generator=g) for s in ("val", "test")}
    summary = {"kan_width": list(WIDTH), "params": {"grid_size": 5, "k": 3, "base": False},
               "kan": [{"n_params": heads[0].n_params()}], "mlp": {"n_params": 1}, "linear": {"n_params": 1}}
    monkeypatch.setattr(experiment, "load_heads", lambda path: (heads, summary, None, None))
    monkeypatch.setattr(experiment, "standardised_inputs", lambda *args: (x, y))
    return x, y


def _run():
    sweep = experiment.head_sweep(None, None, None, PARAMS)
    return sweep, experiment.multi_head(None, None, None, PARAMS, sweep)


def test_the_sweep_scores_every_head_and_the_multi_head_study_covers_every_precision(fake_heads):
    sweep, multi = _run()
    assert sweep["head"]["heads"] == 3 and sweep["head"]["uniform_grids"] == [True, True]
    share = [r for r in sweep["rows"] if r["method"] == "share"]
    assert len(share) == 3 * 3 and all(len(r["per_head"]) == 3 for r in sweep["rows"])
    for r in sweep["rows"]:
        assert r["val_accuracy"] == pytest.approx(sum(h["val"] for h in r["per_head"]) / 3)
        assert r["accuracy"] == pytest.approx(sum(h["test"] for h in r["per_head"]) / 3)
    dense = sweep["rows"][0]
    assert dense["absent"] == {"scale_base": 6 * 4 + 4 * 3}  # zero base weights are not stored
    chosen = choose(sweep, VERDICT_COST)
    assert multi["k"] == (chosen["k"] if chosen else PARAMS["k"])
    assert {(s["precision"], s["heads"]) for s in multi["scaling"]} == {(p, n) for p in PARAMS["precisions"] for n in (1, 5)}
    by = {(s["precision"], s["heads"]): s for s in multi["scaling"]}
    # the base weights are absent, so int8 and int8+base store the same bytes
    assert by["int8", 5]["shared_bytes"] == by["int8+base", 5]["shared_bytes"] < by["fp32", 5]["shared_bytes"]
    assert {(h["precision"], h["seed"]) for h in multi["per_head"]} == {(p, s) for p in PARAMS["precisions"] for s in range(3)}


def test_the_operating_point_does_not_read_the_test_split(fake_heads):
    _, y = fake_heads
    sweep_before, before = _run()
    y["test"] = y["test"][torch.randperm(80, generator=torch.Generator().manual_seed(5))]
    sweep_after, after = _run()
    assert [r["accuracy"] for r in sweep_after["rows"]] != [r["accuracy"] for r in sweep_before["rows"]]
    assert [r["val_accuracy"] for r in sweep_after["rows"]] == [r["val_accuracy"] for r in sweep_before["rows"]]
    assert after["chosen"] == before["chosen"] and before["chosen"]["precision"] is not None


def test_scoring_with_the_shared_first_layer_basis_computes_each_model_s_own_function():
    """The sweeps score a head, its pruned copies and its compressions from one cached first-layer
    basis: a dense or pruned KAN gives exactly its own forward's logits, a compressed one its
    forward's within float rounding; a model on another grid is refused, not scored wrongly."""
    from kcm.compress import CompressionConfig, compress_kan, magnitude_prune
    from kcm.tasks.share.scoring import SharedFirstLayer

    head = _heads()[0]
    with torch.no_grad():  # a non-uniform first-layer grid, as the trained heads have
        head.update_grid_from_samples(torch.randn(200, WIDTH[0], generator=torch.Generator().manual_seed(5)))
    assert not head.layers[0].uniform
    x = torch.randn(50, WIDTH[0], generator=torch.Generator().manual_seed(6))
    scorer = SharedFirstLayer(head, x)
    for model in (head, magnitude_prune(head, 0.5)):
        assert torch.equal(scorer.logits(model), model(x))
    for precision in ({}, {"int8": True}, {"int8": True, "int8_base": True}):
        compressed = compress_kan(head, CompressionConfig(k=4, **precision))
        torch.testing.assert_close(scorer.logits(compressed), compressed(x), rtol=0, atol=1e-5)
    y = compressed(x).argmax(1)
    assert scorer.accuracy(compressed, y) == 1.0
    with pytest.raises(ValueError, match="another grid"):
        scorer.logits(_heads()[1])  # uniform grid: not the one the basis was computed on
