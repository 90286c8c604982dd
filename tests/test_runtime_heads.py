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
    """A KAN with random coefficients and grids updated from skewed samples: per-input
    non-uniform grids if `adaptive` (pykan's grid_eps 0.02), else a uniform grid over each
    input's range (grid_eps 1, as the heads and judges train)."""
    torch.manual_seed(seed)
    kan = KAN(width, grid_size=10, k=3, seed=seed, grid_eps=0.02 if adaptive else 1.0)
    with torch.no_grad():
        for layer in kan.layers:
            layer.coef.normal_(std=0.1)  # hidden values of order 1-10, as in the trained heads
            layer.scale_sp.uniform_(0.5, 1.5)
            if not base:
                layer.scale_base.zero_()
        samples = torch.randn(200, width[0])
        kan.update_grid_from_samples(samples ** 3 if adaptive else 2 * samples)  # skewed: quantile knots
    assert all(layer.uniform != adaptive for layer in kan.layers)
    return kan.eval()


@pytest.fixture(scope="module")
def head():
    return trained_like([48, 8, 5])


@pytest.fixture(scope="module")
def uniform_head():
    return trained_like([48, 8, 5], adaptive=False)


def stats(n):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, generator=g), torch.rand(n, generator=g) + 0.5


def assert_equal_functions(got, expected):
    """Within 1e-5 of the output's scale: the folded standardisation and the tile sums round
    differently (the synthetic uniform heads reach |logit| ~ 60; the real heads' check is 1e-5
    absolute, in share_edge's facts)."""
    assert (got - expected).abs().max() <= 1e-5 * max(1.0, float(expected.abs().max()))


def inputs(n_in, n=16):
    g = torch.Generator().manual_seed(2)
    return torch.randn(n, n_in, generator=g) * 3  # beyond the grids too


@pytest.mark.parametrize("tile", [7, 16, 48])
@pytest.mark.parametrize("base", [False, True])
@pytest.mark.parametrize("adaptive", [False, True])
def test_dense_runtime_equals_the_trained_head(tile, base, adaptive):
    kan = trained_like([48, 8, 5], base=base, adaptive=adaptive)
    mean, inv_std = stats(48)
    x = inputs(48)
    with torch.no_grad():
        expected = Standardised(kan, mean, inv_std)(x)
        got = DenseRuntimeKAN(kan, mean, inv_std, tile)(x)
    assert_equal_functions(got, expected)


@pytest.mark.parametrize("tile", [7, 48])
@pytest.mark.parametrize("adaptive", [False, True])
def test_codebook_runtime_equals_the_reconstructed_dense_kan(head, uniform_head, tile, adaptive):
    compressed = compress_kan(head if adaptive else uniform_head, CompressionConfig(k=16))
    mean, inv_std = stats(48)
    x = inputs(48)
    with torch.no_grad():
        expected = Standardised(reconstruct_kan(compressed), mean, inv_std)(x)
        got = CodebookRuntimeKAN(compressed, mean, inv_std, tile)(x)
    assert_equal_functions(got, expected)


def test_codebook_runtime_holds_packed_codes_and_int8_tensors_only(uniform_head):
    runtime = CodebookRuntimeKAN(compress_kan(uniform_head, CompressionConfig(k=16)), *stats(48), tile=16)
    layer = runtime.layers[0]
    assert layer.index.dtype == torch.uint8
    assert layer.gain.dtype == layer.bias.dtype == torch.int8
    # nothing of the dense coefficients' size (in x out x D floats) is kept
    biggest_float = max(t.numel() for t in runtime.buffers() if t.is_floating_point())
    assert biggest_float < 48 * 8 * 13 / 4
    assert constant_bytes(runtime) < constant_bytes(DenseRuntimeKAN(uniform_head, *stats(48), tile=16)) / 2


@pytest.mark.parametrize("adaptive", [False, True])
def test_grids_are_kept_in_their_narrowest_exact_form_with_the_standardisation_folded_in(adaptive):
    """A uniform grid is t0 and 1/h per input, any other its G + 1 interior knots; the
    standardisation in front is folded into the first layer's grid, not stored."""
    kan = trained_like([48, 8, 5], adaptive=adaptive)
    runtime = DenseRuntimeKAN(kan, *stats(48), tile=16)
    kinds = {name.rsplit(".", 1)[-1] for name, _ in runtime.named_buffers()}
    assert not kinds & {"mean", "inv_std", "base_mean", "base_inv_std"}
    grid_bytes = sum(t.numel() * 4 for n, t in runtime.named_buffers() if n.rsplit(".", 1)[-1] in
                     ("t0", "inv_h", "knots"))
    assert grid_bytes == (48 + 8) * (11 if adaptive else 2) * 4


def test_index_type_is_the_narrowest_that_holds_every_code():
    assert index_dtype(256) == torch.uint8
    assert index_dtype(257) == torch.int16
    assert index_dtype(40000) == torch.int32


def test_int8_gains_are_required():
    with pytest.raises(ValueError, match="int8=True"):
        CodebookRuntimeKAN(compress_kan(trained_like([6, 3]), CompressionConfig(k=4, int8=False)), *stats(6))


@pytest.fixture(scope="module")
def exported(head, uniform_head, tmp_path_factory):
    from kcm.edge import export_pte, measure_pte

    folder = tmp_path_factory.mktemp("runtime_heads")
    compressed = compress_kan(head, CompressionConfig(k=16))
    mean, inv_std = stats(48)
    x = inputs(48, 1)
    out = {}
    uniform = compress_kan(uniform_head, CompressionConfig(k=16))
    for name, module, reference in (
        ("dense", DenseRuntimeKAN(head, mean, inv_std, 16), Standardised(head, mean, inv_std)),
        ("codebook", CodebookRuntimeKAN(compressed, mean, inv_std, 16), Standardised(reconstruct_kan(compressed), mean, inv_std)),
        ("dense, uniform, tile 7", DenseRuntimeKAN(uniform_head, mean, inv_std, 7), Standardised(uniform_head, mean, inv_std)),
        ("codebook, uniform, tile 7", CodebookRuntimeKAN(uniform, mean, inv_std, 7),
         Standardised(reconstruct_kan(uniform), mean, inv_std)),
    ):
        facts = export_pte(module, x, folder / f"{name}.pte", xnnpack=False)
        measured = measure_pte(folder / f"{name}.pte", x, repeats=3, warmup=1)
        with torch.no_grad():
            out[name] = facts, measured["output"], reference(x)
    return out


def test_the_pte_programs_compute_the_reference_functions(exported):
    for _, pte_out, reference in exported.values():
        assert_equal_functions(pte_out, reference)


def test_tiling_bounds_the_planned_arena(exported, head, tmp_path):
    """One tile's temporaries, not the whole layer's: the untiled program plans more."""
    from kcm.edge import export_pte

    untiled = export_pte(DenseRuntimeKAN(head, *stats(48), tile=48), inputs(48, 1), tmp_path / "untiled.pte", xnnpack=False)
    assert exported["dense"][0]["planned_arena_bytes"] < untiled["planned_arena_bytes"]


def test_the_program_is_one_loop_body_whatever_the_number_of_tiles(exported, uniform_head, tmp_path):
    """The tiles run as a loop: 7 tiles of 7 inputs make about the same program as 2 of 24,
    where an unrolled program grows by one copy of the body's operators per tile."""
    from kcm.edge import export_pte

    compressed = compress_kan(uniform_head, CompressionConfig(k=16))
    two = export_pte(CodebookRuntimeKAN(compressed, *stats(48), tile=24), inputs(48, 1), tmp_path / "two.pte",
                     xnnpack=False)
    seven = exported["codebook, uniform, tile 7"][0]
    # One padded input's constants and the tensors' shapes differ: well under a kB or two. An
    # unrolled body costs ~25 kB of operator metadata per tile (measured on the 1280-input head).
    assert abs(seven["pte_bytes"] - two["pte_bytes"]) < 2048
