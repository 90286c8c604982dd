"""Edge-runtime heads (issue 19): the folded dense head equals the trained head, the codebook
head equals the reconstructed dense KAN (eager and in the .pte), and they hold what they claim."""

import pytest
import torch

from kcm.compress.compressed import CompressionConfig, compress_kan, reconstruct_kan
from kcm.edge.runtime_heads import (
    CodebookRuntimeKAN,
    DenseRuntimeKAN,
    constant_bytes,
    index_dtype,
)
from kcm.kan import KAN
from kcm.tasks.share.heads import Standardised


def trained_like(width, seed=0, base=False, adaptive=True) -> KAN:
    """A KAN with random coefficients and, if `adaptive`, per-input non-uniform grids (as the
    heads get from update_grid_from_samples)."""
    torch.manual_seed(seed)
    kan = KAN(width, grid_size=10, k=3, seed=seed)
    with torch.no_grad():
        for layer in kan.layers:
            layer.coef.normal_()
            layer.scale_sp.uniform_(0.5, 1.5)
            if not base:
                layer.scale_base.zero_()
        if adaptive:
            kan.update_grid_from_samples(torch.randn(200, width[0]) ** 3)  # skewed: quantile knots
    return kan.eval()


@pytest.fixture(scope="module")
def head():
    return trained_like([48, 8, 5])


def stats(n):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, generator=g), torch.rand(n, generator=g) + 0.5


def inputs(n_in, n=16):
    g = torch.Generator().manual_seed(2)
    return torch.randn(n, n_in, generator=g) * 3  # beyond the grids too


@pytest.mark.parametrize("tile", [7, 16, 48])
@pytest.mark.parametrize("base", [False, True])
def test_dense_runtime_equals_the_trained_head(tile, base):
    kan = trained_like([48, 8, 5], base=base)
    mean, inv_std = stats(48)
    x = inputs(48)
    with torch.no_grad():
        expected = Standardised(kan, mean, inv_std)(x)
        got = DenseRuntimeKAN(kan, mean, inv_std, tile)(x)
    assert (got - expected).abs().max() < 1e-5


@pytest.mark.parametrize("tile", [7, 48])
def test_codebook_runtime_equals_the_reconstructed_dense_kan(head, tile):
    compressed = compress_kan(head, CompressionConfig(k=16))
    mean, inv_std = stats(48)
    x = inputs(48)
    with torch.no_grad():
        expected = Standardised(reconstruct_kan(compressed), mean, inv_std)(x)
        got = CodebookRuntimeKAN(compressed, mean, inv_std, tile)(x)
    assert (got - expected).abs().max() < 1e-5


def test_codebook_runtime_holds_packed_codes_and_int8_tensors_only(head):
    runtime = CodebookRuntimeKAN(compress_kan(head, CompressionConfig(k=16)), *stats(48), tile=16)
    layer = runtime.layers[0]
    assert layer.get_buffer("index_0").dtype == torch.uint8
    assert layer.get_buffer("gain_0").dtype == layer.get_buffer("bias_0").dtype == torch.int8
    # nothing of the dense coefficients' size (in x out x D floats) is kept
    biggest_float = max(t.numel() for t in runtime.buffers() if t.is_floating_point())
    assert biggest_float < 48 * 8 * 13 / 4
    assert constant_bytes(runtime) < constant_bytes(DenseRuntimeKAN(head, *stats(48), tile=16)) / 2


def test_index_type_is_the_narrowest_that_holds_every_code():
    assert index_dtype(256) == torch.uint8
    assert index_dtype(257) == torch.int16
    assert index_dtype(40000) == torch.int32


def test_int8_gains_are_required():
    with pytest.raises(ValueError, match="int8=True"):
        CodebookRuntimeKAN(compress_kan(trained_like([6, 3]), CompressionConfig(k=4, int8=False)), *stats(6))


@pytest.fixture(scope="module")
def exported(head, tmp_path_factory):
    from kcm.edge import export_pte, measure_pte

    folder = tmp_path_factory.mktemp("runtime_heads")
    compressed = compress_kan(head, CompressionConfig(k=16))
    mean, inv_std = stats(48)
    x = inputs(48, 1)
    out = {}
    for name, module, reference in (
        ("dense", DenseRuntimeKAN(head, mean, inv_std, 16), Standardised(head, mean, inv_std)),
        ("codebook", CodebookRuntimeKAN(compressed, mean, inv_std, 16), Standardised(reconstruct_kan(compressed), mean, inv_std)),
    ):
        facts = export_pte(module, x, folder / f"{name}.pte", xnnpack=False)
        measured = measure_pte(folder / f"{name}.pte", x, repeats=3, warmup=1)
        with torch.no_grad():
            out[name] = facts, measured["output"], reference(x)
    return out


def test_the_pte_programs_compute_the_reference_functions(exported):
    for name, (_, pte_out, reference) in exported.items():
        assert (pte_out - reference).abs().max() < 1e-5, name


def test_tiling_bounds_the_planned_arena(exported, head, tmp_path):
    """One tile's temporaries, not the whole layer's: the untiled program plans more."""
    from kcm.edge import export_pte

    untiled = export_pte(DenseRuntimeKAN(head, *stats(48), tile=48), inputs(48, 1), tmp_path / "untiled.pte", xnnpack=False)
    assert exported["dense"][0]["planned_arena_bytes"] < untiled["planned_arena_bytes"]
