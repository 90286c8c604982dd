"""kcm.edge: heads go to an ExecuTorch `.pte` (atomically, deterministically) and a fresh probe
process runs them, matching eager and reporting RSS and latency."""

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("executorch")

from kcm.edge import EdgeExportError, export_pte, max_abs_diff, measure_pte  # noqa: E402
from kcm.edge import export as edge_export  # noqa: E402
from kcm.edge.probe import parse_args  # noqa: E402
from kcm.kan import KAN  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.SiLU(), torch.nn.Linear(16, 3)).eval()


def _input() -> torch.Tensor:
    return torch.randn(1, 8, generator=torch.Generator().manual_seed(1)) * 1.5


def _leftovers(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != name and name in p.name)


class DataDependentBranch(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # Python control flow on a tensor value: torch.export cannot trace it
            return x
        return -x


class Bucketize(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("edges", torch.linspace(-1, 1, 5))

    def forward(self, x):
        return torch.bucketize(x, self.edges).float()  # no ExecuTorch kernel


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{name: (model, x, pte path, export_pte result)} for our KAN and a small MLP."""
    folder = tmp_path_factory.mktemp("edge")
    out = {}
    for name, model in (("kan", KAN([8, 6, 3], grid_size=5, k=3, seed=0).eval()), ("mlp", _mlp())):
        x = _input()
        path = folder / f"{name}.pte"
        out[name] = (model, x, path, export_pte(model, x, path))
    return out


@pytest.fixture(scope="module")
def measured(exported):
    return {name: measure_pte(path, x, repeats=50, warmup=5) for name, (_, x, path, _) in exported.items()}


@pytest.mark.parametrize("name", ["kan", "mlp"])
def test_export_writes_pte_and_memory_figures(exported, name):
    _, _, path, info = exported[name]
    assert path.is_file() and info["path"] == str(path)
    assert info["pte_bytes"] > 0 and path.stat().st_size == info["pte_bytes"]
    sizes = info["planned_buffer_sizes"]
    assert isinstance(info["planned_arena_bytes"], int) and info["planned_arena_bytes"] >= 0
    assert sizes[0] == 0 and info["planned_arena_bytes"] == sum(sizes[1:])
    assert info["lowering"] == "xnnpack" and info["xnnpack_error"] is None
    assert info["delegated"] and "XnnpackBackend" in info["delegates"]
    assert info["ops"] == sorted(set(info["ops"])) and all(isinstance(op, str) for op in info["ops"])
    assert info["input_shape"] == [1, 8] and info["output_shape"] == [1, 3]
    assert _leftovers(path.parent, path.name) == []


def test_mlp_is_fully_delegated(exported):
    assert exported["mlp"][3]["ops"] == []  # linear + silu all run inside XNNPACK


@pytest.mark.parametrize("name", ["kan", "mlp"])
def test_fresh_process_output_matches_eager(exported, measured, name):
    model, x, _, _ = exported[name]
    with torch.no_grad():
        expected = model(x)
    got = measured[name]["output"]
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert max_abs_diff(got, expected) <= 1e-5


@pytest.mark.parametrize("name", ["kan", "mlp"])
def test_fresh_process_memory_and_latency(exported, measured, name):
    m = measured[name]
    rss_keys = [
        "rss_runtime_baseline_bytes", "rss_before_load_bytes", "rss_after_load_bytes",
        "rss_after_execute_bytes", "hwm_after_execute_bytes",
    ]
    for key in rss_keys:
        assert isinstance(m[key], int) and m[key] > 0, key
    assert m["hwm_after_execute_bytes"] >= m["rss_after_execute_bytes"]
    assert m["delta_load_bytes"] == m["rss_after_load_bytes"] - m["rss_before_load_bytes"]
    assert m["delta_execute_bytes"] == m["rss_after_execute_bytes"] - m["rss_after_load_bytes"]
    if m["hwm_reset"]:
        assert m["delta_peak_bytes"] == m["hwm_after_execute_bytes"] - m["rss_before_load_bytes"]
    # the probe is a fresh process: far below a parent that has built and exported models
    assert m["rss_runtime_baseline_bytes"] < 2 * 1024**3
    assert m["torch_threads"] == 1 and m["executorch_threadpool"] in (1, -1)
    assert 0 < m["latency_min_us"] <= m["latency_median_us"] <= m["latency_p90_us"]
    assert m["repeats"] == 50 and m["warmup"] == 5
    assert m["pte_bytes"] == exported[name][3]["pte_bytes"]


def test_export_is_byte_deterministic(exported, tmp_path):
    for name in ("kan", "mlp"):
        model, x, path, info = exported[name]
        again = export_pte(model, x, tmp_path / f"{name}.pte")
        assert again["sha256"] == info["sha256"], f"{name}: two exports of one module differ"
        assert (tmp_path / f"{name}.pte").read_bytes() == path.read_bytes()


@pytest.mark.parametrize(
    ("module", "needles"),
    [
        (DataDependentBranch(), ["DataDependentBranch", "torch.export", "torch.where"]),
        (Bucketize(), ["Bucketize", "aten::bucketize", "core ops"]),
    ],
    ids=["data-dependent-branch", "bucketize"],
)
def test_unexportable_module_has_clear_error_and_no_file(tmp_path, module, needles):
    path = tmp_path / "bad.pte"
    with pytest.raises(EdgeExportError) as excinfo:
        export_pte(module, _input(), path)
    message = str(excinfo.value)
    assert "Fix:" in message
    for needle in needles:
        assert needle in message
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "head.pte"
    path.write_bytes(b"previous")

    def write_half_then_fail(target, data):
        Path(target).write_bytes(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(edge_export, "_write_bytes", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_pte(_mlp(), _input(), path, xnnpack=False)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["head.pte"]


def test_xnnpack_failure_falls_back_to_portable(tmp_path, monkeypatch):
    from executorch.runtime import Runtime

    def broken():
        raise RuntimeError("no XNNPACK today")

    monkeypatch.setattr(edge_export, "_xnnpack_partitioner", broken)
    model, x, path = _mlp(), _input(), tmp_path / "portable.pte"
    info = export_pte(model, x, path)
    assert info["lowering"] == "portable" and "no XNNPACK today" in info["xnnpack_error"]
    assert not info["delegated"] and info["delegates"] == []
    assert "aten::addmm.out" in info["ops"]
    got = Runtime.get().load_program(path).load_method("forward").execute([x])[0]
    with torch.no_grad():
        assert max_abs_diff(got, model(x)) <= 1e-5


class ScaledLinear(torch.nn.Module):
    """Weight math on every call, like our KAN's coef * scale_sp * mask."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(8, 3, generator=torch.Generator().manual_seed(2)))
        self.b = torch.nn.Parameter(torch.rand(8, 3, generator=torch.Generator().manual_seed(3)))

    def forward(self, x):
        return x @ (self.a * self.b)


def test_fold_constants_precomputes_weight_math(tmp_path):
    from executorch.runtime import Runtime

    model, x = ScaledLinear(), _input()
    plain = export_pte(model, x, tmp_path / "plain.pte", xnnpack=False)
    folded = export_pte(model, x, tmp_path / "folded.pte", xnnpack=False, fold_constants=True)
    assert "aten::mul.out" in plain["ops"] and "aten::mul.out" not in folded["ops"]
    assert folded["fold_constants"] and not plain["fold_constants"]
    assert folded["planned_arena_bytes"] < plain["planned_arena_bytes"]
    with torch.no_grad():
        expected = model(x)
    got = Runtime.get().load_program(tmp_path / "folded.pte").load_method("forward").execute([x])[0]
    assert max_abs_diff(got, expected) <= 1e-5


def test_export_restores_training_mode(tmp_path):
    model = _mlp().train()
    export_pte(model, _input(), tmp_path / "m.pte", xnnpack=False)
    assert model.training


def test_max_abs_diff_and_probe_arguments():
    assert max_abs_diff(np.array([[1.0, 2.0]], np.float32), torch.tensor([[1.5, 2.0]])) == 0.5
    with pytest.raises(ValueError, match="shape mismatch"):
        max_abs_diff(torch.zeros(1, 3), torch.zeros(3))
    with pytest.raises(SystemExit):
        parse_args(["--input", "x.npy"])  # no --pte
    args = parse_args(["--pte", "a.pte", "--input", "x.npy", "--repeats", "3", "--warmup", "0"])
    assert (args.repeats, args.warmup, args.baseline) == (3, 0, False)
