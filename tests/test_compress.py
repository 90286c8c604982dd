"""SHARe-KAN-style compression: GSB round trip, codebook, Int8, codebook-domain inference,
storage accounting, shared codebooks, export and the pruning baseline."""

import math

import pytest
import torch

from kcm.compress import (
    CompressionConfig,
    compress_kan,
    compressed_storage,
    dense_storage,
    kan_of,
    magnitude_prune,
    multi_head_storage,
    reconstruct_kan,
    relative_coef_error,
    shared_codebook_compress,
)
from kcm.compress.codebook import assign, fit_codebook
from kcm.compress.gsb import decompose, effective_coef, reconstruct
from kcm.compress.int8 import dequantize, quantize
from kcm.compress.storage import index_bits
from kcm.judges import Judge, JudgeConfig
from kcm.kan import KAN

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TOL = dict(rtol=1e-5, atol=1e-5)
ALL = 10**6  # a codebook size above any layer's edge count: every shape is its own word


def gen(seed):
    return torch.Generator().manual_seed(seed)


def inputs(n, dim, seed, scale=2.5):
    """Normal * 2.5: inside [-1, 1], in the extended grid and well beyond it."""
    return torch.randn(n, dim, generator=gen(seed)) * scale


def random_kan(width=(5, 4, 3), seed=0, uniform=True, extras=False):
    """A KAN away from its init; `extras`: masked edges, a constant edge, non-identity affines."""
    kan = KAN(list(width), grid_size=5, k=3, seed=seed).eval()
    g = gen(seed + 100)
    with torch.no_grad():
        for layer in kan.layers:
            layer.coef.normal_(0, 0.3, generator=g)
            layer.scale_base.normal_(0, 0.5, generator=g)
            layer.scale_sp.normal_(1, 0.3, generator=g)
        if extras:
            kan.layers[0].mask[0, 1] = 0.0
            kan.layers[0].mask[2, 0] = 0.0
            kan.layers[0].coef[1, 1] = 0.7  # constant curve: zero gain, nonzero bias
            kan.node_scale_0.normal_(1, 0.2, generator=g)
            kan.subnode_bias_0.normal_(0, 0.2, generator=g)
    if not uniform:
        for layer in kan.layers:
            layer.grid_eps = 0.0
        kan.update_grid_from_samples(inputs(300, width[0], seed + 200, scale=1.0) ** 3)
        assert not any(layer.uniform for layer in kan.layers)
    return kan


# --------------------------------------------------------------------------- GSB and codebook


@pytest.mark.parametrize("gain", ["norm", "projection"])
def test_gsb_round_trip_is_exact_when_every_shape_has_a_code_word(gain):
    kan = random_kan(extras=True)
    compressed = compress_kan(kan, CompressionConfig(k=ALL, int8=False, gain=gain))
    for layer, cl in zip(kan.layers, compressed.layers):
        torch.testing.assert_close(cl.reconstructed_coef(), effective_coef(layer), rtol=0, atol=1e-6)
    c = effective_coef(kan.layers[0])
    gain_, shape, bias = decompose(c)
    assert (gain_ >= 0).all()
    live = gain_ > 0
    torch.testing.assert_close(shape.norm(dim=-1)[live], torch.ones(int(live.sum())))
    for i, o in [(0, 1), (2, 0), (1, 1)]:  # masked edges and the constant edge
        assert gain_[i, o] == 0 and (shape[i, o] == 0).all()
    assert bias[0, 1] == 0 and bias[2, 0] == 0 and bias[1, 1] != 0
    index = torch.zeros(5, 4, dtype=torch.int64)  # a zero-gain edge reconstructs as its bias
    torch.testing.assert_close(reconstruct(gain_, torch.randn(1, 8), index, bias)[1, 1], c[1, 1])


def test_codebook_size_is_capped_and_tiny_layers_work():
    kan = KAN([1, 2, 1], seed=0)
    compressed = compress_kan(kan, CompressionConfig(k=256))
    assert [cl.n_codes for cl in compressed.layers] == [2, 2]
    empty = fit_codebook(torch.zeros(0, 8), k=16)
    assert empty.shape == (1, 8) and (empty == 0).all()
    duplicates = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert fit_codebook(duplicates, k=3).shape == (2, 2)


def test_assign_picks_the_nearest_word_and_the_lowest_index_on_ties():
    codebook = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, -1.0]])
    shapes = torch.tensor([[0.9, 0.1], [0.1, -0.8], [1.0, 1.0]])
    assert assign(shapes, codebook).tolist() == [1, 3, 0]


def test_same_seed_gives_identical_codebooks_and_indices():
    kan = random_kan((16, 8, 4), seed=3)
    a, b = (compress_kan(kan, CompressionConfig(k=16, seed=7)) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert all(cl.n_codes == 16 for cl in a.layers)


def test_error_shrinks_as_the_codebook_grows():
    kan = random_kan((64, 16, 10), seed=1)
    errors = {k: relative_coef_error(kan, compress_kan(kan, CompressionConfig(k=k, int8=False))) for k in (4, 16, 64, 256)}
    assert errors[256] < errors[64] < errors[16] < errors[4]
    assert errors[256] < 0.5 * errors[4]


def test_projection_gain_never_loses_to_the_norm_gain():
    kan = random_kan((16, 8, 4), seed=2)
    norm, proj = (compress_kan(kan, CompressionConfig(k=8, int8=False, gain=g)) for g in ("norm", "projection"))
    for layer, a, b in zip(kan.layers, norm.layers, proj.layers):
        assert torch.equal(a.index, b.index)
        c = effective_coef(layer)
        per_edge = lambda cl: (cl.reconstructed_coef() - c).square().sum(-1)  # noqa: E731
        assert (per_edge(b) <= per_edge(a) + 1e-6).all()  # least squares per edge


# --------------------------------------------------------------------------- Int8


def test_int8_error_is_at_most_half_a_step_and_zero_is_exact():
    for t in (torch.randn(1000, generator=gen(0)) * 3 + 1, torch.rand(50, 8, generator=gen(1)), -torch.rand(7)):
        a = quantize(t)
        assert a.q.dtype == torch.int8 and a.scale.dtype == torch.float32 and -128 <= a.zero_point <= 127
        assert (dequantize(a) - t).abs().max() <= float(a.scale) / 2 * (1 + 1e-5)
        assert dequantize(quantize(torch.cat([t.reshape(-1), torch.zeros(1)])))[-1] == 0
    for value in (0.0, 0.37, -2.5):
        a = quantize(torch.full((3, 4), value))
        assert torch.isfinite(a.scale) and a.scale > 0
        torch.testing.assert_close(dequantize(a), torch.full((3, 4), value), rtol=1e-6, atol=0.0)


# --------------------------------------------------------------------------- inference


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("int8", [False, True])
def test_codebook_forward_matches_the_reconstructed_dense_kan(uniform, int8):
    kan = random_kan((5, 4, 3), seed=4, uniform=uniform, extras=True)
    compressed = compress_kan(kan, CompressionConfig(k=4, int8=int8))
    dense = reconstruct_kan(compressed)
    assert all(layer.uniform == uniform for layer in dense.layers)
    x = inputs(200, 5, seed=5)
    assert (x.abs() > 2).any()  # beyond the extended grid, where sum_j B_j != 1
    with torch.no_grad():
        torch.testing.assert_close(compressed(x), dense(x), **TOL)
        torch.testing.assert_close(compressed(x.reshape(4, 50, 5)), dense(x).reshape(4, 50, 3), **TOL)


@pytest.mark.parametrize("uniform", [True, False])
def test_codebook_forward_matches_the_original_when_every_shape_has_a_word(uniform):
    kan = random_kan((5, 4, 3), seed=6, uniform=uniform, extras=True)
    compressed = compress_kan(kan, CompressionConfig(k=ALL, int8=False))
    x = inputs(200, 5, seed=7)
    with torch.no_grad():
        torch.testing.assert_close(compressed(x), kan(x), **TOL)


def test_kan_of_finds_the_judges_kan():
    judge = Judge(6, 3, JudgeConfig(hidden=(4,)))
    assert kan_of(judge) is judge.net and kan_of(judge.net) is judge.net
    with pytest.raises(TypeError, match="no KAN"):
        kan_of(Judge(6, 3, JudgeConfig(kind="mlp")))
    x = inputs(20, 6, seed=8)
    compressed = compress_kan(kan_of(judge), CompressionConfig(k=ALL, int8=False))
    with torch.no_grad():
        torch.testing.assert_close(compressed(judge.standardize(x)) / judge.temperature, judge(x), **TOL)


def test_executorch_runs_the_int8_model_like_eager(tmp_path):
    """Portable kernels only: every op must exist there (the fallback for whatever a delegate
    rejects). The XNNPACK recipe of test_kan_export.py also works, but lowering through it
    takes ~9 s per model on our 2-core machine, so it is not repeated here."""
    pytest.importorskip("executorch")
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    kan = random_kan((6, 5, 3), seed=9)
    kan.layers[1].grid_eps = 0.0  # layer 0 uniform (closed form), layer 1 Cox-de Boor
    with torch.no_grad():
        kan.layers[1].update_grid_from_samples(inputs(300, 5, seed=10, scale=1.0) ** 3)
    assert kan.layers[0].uniform and not kan.layers[1].uniform
    model = compress_kan(kan, CompressionConfig(k=8, int8=True))
    x = inputs(4, 6, seed=11)
    with torch.no_grad():
        expected = model(x)
        program = torch.export.export(model, (x,))
        int8_inputs = [s for s in program.graph_signature.input_specs if s.target and s.target.endswith("_q")]
        assert len(int8_inputs) == 6  # codebook, gain and bias per layer travel as int8
        lowered = to_edge_transform_and_lower(program).to_executorch()
    pte = tmp_path / "compressed.pte"
    pte.write_bytes(lowered.buffer)
    got = Runtime.get().load_program(pte).load_method("forward").execute([x])[0]
    torch.testing.assert_close(got, expected, **TOL)


# --------------------------------------------------------------------------- storage


def test_dense_storage_counts_every_stored_float():
    kan = random_kan((5, 4, 3), seed=12, extras=True)  # layer 0: a mask and two affines
    kan.layers[1].grid_eps = 0.0
    with torch.no_grad():
        kan.layers[1].update_grid_from_samples(inputs(100, 4, seed=13, scale=1.0) ** 3)
    D, knots = 5 + 3, 5 + 2 * 3 + 1
    floats = (
        5 * 4 * D + 2 * 5 * 4 + 5 * 4 + 2 * 5  # layer 0: coef, scale_base/sp, mask, uniform grid (t0, h)
        + 4 * 3 * D + 2 * 4 * 3 + 4 * knots  # layer 1: coef, scale_base/sp, full non-uniform grid
        + 4 + 4  # node_scale_0 and subnode_bias_0 (the only non-identity affines)
    )
    report = dense_storage(kan)
    assert report.total_bytes == 4 * floats
    assert report.mb == 4 * floats / 1e6
    assert report.by_component()["mask"] == 4 * 5 * 4
    plain = dense_storage(random_kan((5, 4, 3), seed=12))
    assert plain.total_bytes == 4 * (5 * 4 * (D + 2) + 4 * 3 * (D + 2) + 2 * 5 + 2 * 4)
    assert plain.total_bytes == 4 * (random_kan((5, 4, 3)).n_params() + 2 * 5 + 2 * 4)


@pytest.mark.parametrize("int8", [False, True])
def test_compressed_storage_by_hand(int8):
    kan = random_kan((16, 8, 4), seed=14)
    compressed = compress_kan(kan, CompressionConfig(k=12, int8=int8))
    report = compressed_storage(compressed)
    D = 8
    expected = 0
    for layer_idx, (n_in, n_out) in enumerate([(16, 8), (8, 4)]):
        cl = compressed.layers[layer_idx]
        edges, codes = n_in * n_out, cl.n_codes
        assert codes == 12 and index_bits(codes) == 4
        index_bytes = math.ceil(edges * math.ceil(math.log2(codes)) / 8)
        rows = [r for r in report.rows if r.layer == layer_idx and r.component == "index"]
        assert len(rows) == 1 and rows[0].bytes == index_bytes and rows[0].bits_per_item == 4
        if int8:  # codebook, gains, biases: 1 byte each + a 4-byte scale and 1-byte zero point each
            quantised = codes * D + 2 * edges + 3 * (4 + 1)
        else:
            quantised = 4 * (codes * D + 2 * edges)
        expected += quantised + index_bytes + 4 * edges + 4 * 2 * n_in  # + scale_base, grid (t0, h)
    assert report.total_bytes == expected
    assert dense_storage(kan).total_bytes > report.total_bytes


def test_int8_base_weights_run_from_int8_and_cost_one_byte_per_edge():
    kan = random_kan((16, 8, 4), seed=15, extras=False)
    base = compress_kan(kan, CompressionConfig(k=12))
    full = compress_kan(kan, CompressionConfig(k=12, int8_base=True))
    x = inputs(64, 16, seed=16)
    with torch.no_grad():
        torch.testing.assert_close(full(x), reconstruct_kan(full)(x), **TOL)
        assert full.layers[0].base_weight_q.dtype == torch.int8
        # the base weights move by at most half a quantisation step
        step = float(full.layers[0].base_weight_scale)
        err = (full.layers[0].dequantised("base_weight") - kan.layers[0].scale_base).abs().max()
        assert float(err) <= step / 2 + 1e-7
    edges = 16 * 8 + 8 * 4
    saved = compressed_storage(base).total_bytes - compressed_storage(full).total_bytes
    assert saved == 3 * edges - 2 * (4 + 1)  # 4 -> 1 byte per edge, plus a scale and zero point per layer
    with pytest.raises(ValueError, match="int8_base needs int8"):
        compress_kan(kan, CompressionConfig(k=12, int8=False, int8_base=True))


def test_index_bits_are_ceil_log2():
    assert [index_bits(k) for k in (1, 2, 3, 4, 5, 16, 17, 256, 257)] == [0, 1, 2, 2, 3, 4, 5, 8, 9]


def test_shared_codebook_is_counted_once_and_the_ratio_grows_with_heads():
    heads = [random_kan((16, 8, 4), seed=20 + h) for h in range(4)]
    config = CompressionConfig(k=32)
    ratios = []
    for n in (1, 2, 4):
        shared = shared_codebook_compress(heads[:n], config)
        report = multi_head_storage(shared, shared_codebook=True)
        separate = multi_head_storage(shared, shared_codebook=False)
        codebook_bytes = sum(b for c, b in report.by_component().items() if c.startswith("codebook"))
        assert codebook_bytes == sum(32 * 8 + 5 for _ in range(2))  # once per layer position
        assert separate.total_bytes - report.total_bytes == (n - 1) * codebook_bytes
        ratios.append(sum(dense_storage(h).total_bytes for h in heads[:n]) / report.total_bytes)
        for head, cl in zip(heads[:n], shared):  # every head still computes its own function
            with torch.no_grad():
                x = inputs(30, 16, seed=21)
                torch.testing.assert_close(cl(x), reconstruct_kan(cl)(x), **TOL)
    assert ratios[0] < ratios[1] < ratios[2]
    own = [compress_kan(h, config) for h in heads[:2]]
    with pytest.raises(ValueError, match="different codebooks"):
        multi_head_storage(own, shared_codebook=True)


def spline_only(kan):
    """A head trained like share.head.base = false: its base weights are identically zero."""
    with torch.no_grad():
        for layer in kan.layers:
            layer.scale_base.zero_()
    return kan


def test_a_zero_tensor_is_absent_in_the_dense_and_the_compressed_count_alike():
    kan = random_kan((16, 8, 4), seed=35)
    zero = spline_only(random_kan((16, 8, 4), seed=35))
    edges = 16 * 8 + 8 * 4
    assert dense_storage(kan).total_bytes - dense_storage(zero).total_bytes == 4 * edges
    assert dense_storage(zero).absent_items() == {"scale_base": edges} and not dense_storage(kan).absent
    for cfg, saved in ((CompressionConfig(k=12, int8=False), 4 * edges), (CompressionConfig(k=12), 4 * edges),
                       (CompressionConfig(k=12, int8_base=True), edges + 2 * (4 + 1))):  # its scale and zero point too
        full, absent = compressed_storage(compress_kan(kan, cfg)), compressed_storage(compress_kan(zero, cfg))
        assert full.total_bytes - absent.total_bytes == saved
        assert absent.absent_items()["base_weight"] == edges
        assert "base_weight" not in absent.by_component()


def test_fifty_spline_only_heads_at_int8_base_match_a_hand_count():
    """The issue's acceptance test: N heads sharing one codebook per layer at int8+base, counted by
    hand from the shapes: codebook (once), packed indices, Int8 gains / biases with their scales
    and zero points, grids as (t0, h), zero tensors (the base weights) absent."""
    width, n_heads, K, D = (16, 8, 4), 50, 12, 5 + 3
    trained = [spline_only(random_kan(width, seed=40 + h)) for h in range(3)]
    assert all(layer.uniform for kan in trained for layer in kan.layers)
    shared = shared_codebook_compress(trained, CompressionConfig(k=K, int8=True, int8_base=True))
    report = multi_head_storage([shared[i % 3] for i in range(n_heads)], shared_codebook=True)
    int8 = 4 + 1  # one float32 scale and one int8 zero point per Int8 tensor
    layers = [(16, 8), (8, 4)]
    codebooks = sum(K * D + int8 for _ in layers)  # once for all heads
    per_head = sum(
        math.ceil(n_in * n_out * 4 / 8)  # indices at ceil(log2 12) = 4 bits
        + 2 * (n_in * n_out + int8)  # gains and biases
        + 0  # base weights: identically zero, absent
        + 4 * 2 * n_in  # uniform grid: t0 and h per input
        for n_in, n_out in layers)
    assert report.total_bytes == codebooks + n_heads * per_head == 202 + 50 * 612
    assert report.absent_items() == {"base_weight": n_heads * 160, "base_weight.scale": 2 * n_heads,
                                     "base_weight.zero_point": 2 * n_heads}
    dense_per_head = sum(4 * (n_in * n_out * D + n_in * n_out + 2 * n_in) for n_in, n_out in layers)  # coef, scale_sp, grid
    assert sum(dense_storage(trained[i % 3]).total_bytes for i in range(n_heads)) == n_heads * dense_per_head == 50 * 5952
    # int8 keeps the base weights float32, but they are zero, so both precisions store the same bytes
    int8_only = shared_codebook_compress(trained, CompressionConfig(k=K, int8=True))
    assert multi_head_storage([int8_only[i % 3] for i in range(n_heads)], shared_codebook=True).total_bytes == report.total_bytes


# --------------------------------------------------------------------------- pruning


def test_magnitude_pruning_hits_the_sparsity_exactly_per_layer():
    kan = random_kan((10, 6, 4), seed=30)
    before = {k: v.clone() for k, v in kan.state_dict().items()}
    pruned = magnitude_prune(kan, 0.25)  # 10*6*8 = 480 and 6*4*8 = 192 entries: 120 and 48
    for layer, original in zip(pruned.layers, kan.layers):
        zero = layer.coef == 0
        assert int(zero.sum()) == layer.coef.numel() // 4
        kept = effective_coef(original).abs()
        assert kept[zero].max() <= kept[~zero].min()  # the smallest effective magnitudes went
        torch.testing.assert_close(layer.coef[~zero], original.coef[~zero], rtol=0, atol=0)
    assert all(torch.equal(v, before[k]) for k, v in kan.state_dict().items())  # input untouched
    same = magnitude_prune(kan, 0.0)
    assert all(torch.equal(v, before[k]) for k, v in same.state_dict().items())
    x = inputs(20, 10, seed=31)
    with torch.no_grad():
        torch.testing.assert_close(same(x), kan(x), rtol=0, atol=0)
