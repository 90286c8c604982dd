"""Our KAN computes pykan's function: outputs and gradients, grid updates, conversion, export."""

import os
import random

import numpy as np
import pytest
import torch
from kan import KAN as PykanKAN
from kan.KANLayer import KANLayer as PykanLayer

from kcm.kan import KAN, KANLayer, grid_is_uniform

TOL = dict(rtol=1e-5, atol=1e-5)


def random_pykan_layer(in_dim, out_dim, G, k, seed):
    torch.manual_seed(seed)
    layer = PykanLayer(in_dim, out_dim, num=G, k=k)
    with torch.no_grad():  # move away from the init so every parameter matters
        layer.coef.normal_(0, 0.3)
        layer.scale_base.normal_(0, 0.5)
        layer.scale_sp.normal_(1, 0.3)
        layer.mask.bernoulli_(0.8)
    return layer


def inputs(n, in_dim, seed, scale=1.5):
    """Standard normal * 1.5: inside [-1, 1], in the extended grid, and beyond it."""
    return torch.randn(n, in_dim, generator=torch.Generator().manual_seed(seed)) * scale


def assert_same_function_and_gradients(pykan_layer, ours, x):
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = pykan_layer(xa)[0], ours(xb)
    torch.testing.assert_close(yb, ya, **TOL)
    weights = torch.randn_like(ya)
    (ya * weights).mean().backward()
    (yb * weights).mean().backward()
    torch.testing.assert_close(xb.grad, xa.grad, **TOL)
    for name in ("coef", "scale_base", "scale_sp"):
        torch.testing.assert_close(getattr(ours, name).grad, getattr(pykan_layer, name).grad, **TOL)


@pytest.mark.parametrize("G", [3, 5, 10])
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 1), (4, 3), (16, 8)])
def test_matches_pykan_on_uniform_grids(G, k, shape):
    layer = random_pykan_layer(*shape, G, k, seed=G * 10 + k)
    ours = KANLayer.from_pykan(layer)
    assert ours.uniform
    x = inputs(300, shape[0], seed=k)
    assert (x.abs() > 1).any() and (x.abs() > 1 + 2 * k / G).any()  # outside grid and extension
    assert_same_function_and_gradients(layer, ours, x)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_matches_pykan_exactly_on_the_knots(k):
    layer = random_pykan_layer(3, 2, 5, k, seed=k)
    ours = KANLayer.from_pykan(layer)
    x = layer.grid.T.clone()  # every knot, including the extended and outermost ones
    with torch.no_grad():
        torch.testing.assert_close(ours(x), layer(x)[0], **TOL)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_matches_pykan_on_non_uniform_grids_after_its_grid_update(k):
    layer = random_pykan_layer(5, 4, 6, k, seed=7)
    layer.update_grid_from_samples(inputs(400, 5, seed=8) ** 3)  # skewed: quantile knots
    ours = KANLayer.from_pykan(layer)
    assert not ours.uniform and not grid_is_uniform(layer.grid)
    assert_same_function_and_gradients(layer, ours, inputs(300, 5, seed=9, scale=2.0))


@pytest.mark.parametrize("grid_eps", [0.02, 1.0])
def test_grid_update_follows_pykan(grid_eps):
    layer = random_pykan_layer(4, 3, 5, 3, seed=1)
    layer.grid_eps = grid_eps
    ours = KANLayer.from_pykan(layer)
    samples = inputs(512, 4, seed=2, scale=3.0)
    layer.update_grid_from_samples(samples)
    ours.update_grid_from_samples(samples)
    torch.testing.assert_close(ours.grid, layer.grid, **TOL)
    assert ours.uniform == (grid_eps == 1.0)
    x = inputs(200, 4, seed=3, scale=2.0)
    with torch.no_grad():  # both refit by least squares: same curves, not bit-equal coefficients
        torch.testing.assert_close(ours(x), layer(x)[0], rtol=1e-4, atol=1e-4)


def test_pykan_model_round_trip_preserves_outputs():
    torch.manual_seed(0)
    pykan = PykanKAN(width=[5, 7, 3], grid=4, k=3, auto_save=False, seed=0)
    with torch.no_grad():
        for i in range(2):
            pykan.node_scale[i].normal_(1, 0.2)
            pykan.node_bias[i].normal_(0, 0.2)
            pykan.subnode_scale[i].normal_(1, 0.2)
            pykan.subnode_bias[i].normal_(0, 0.2)
    x = inputs(100, 5, seed=4)
    ours = KAN.from_pykan(pykan)
    back = ours.to_pykan()
    assert ours.width == [5, 7, 3]  # pykan rewrites the width list it is given: we pass a copy
    with torch.no_grad():
        reference = pykan(x)
        torch.testing.assert_close(ours(x), reference, **TOL)
        torch.testing.assert_close(back(x), reference, **TOL)


def test_construction_writes_nothing_and_leaves_global_rng_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch_state, np_state, py_state = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    model = KAN([4, 6, 2], grid_size=5, k=3, seed=3)
    model.to_pykan()  # pykan itself reseeds all three; we restore them
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state) and random.getstate() == py_state
    assert os.listdir(tmp_path) == []
    again = KAN([4, 6, 2], grid_size=5, k=3, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_inputs_with_leading_dimensions():
    model = KAN([3, 4, 2], seed=0)
    x = inputs(8, 3, seed=5).reshape(2, 4, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x.reshape(-1, 3)).reshape(2, 4, 2))


def test_state_dict_round_trip_restores_the_grid_path():
    source = KAN([3, 2], seed=0)
    source.layers[0].grid_eps = 0.0
    source.update_grid_from_samples(inputs(100, 3, seed=6) ** 3)
    target = KAN([3, 2], seed=1)
    assert target.layers[0].uniform
    target.load_state_dict(source.state_dict())
    assert not target.layers[0].uniform
    x = inputs(10, 3, seed=7)
    with torch.no_grad():
        torch.testing.assert_close(target(x), source(x))


def test_rejects_spline_order_zero():
    with pytest.raises(ValueError, match="k must be >= 1"):
        KANLayer(2, 2, k=0)


def test_torch_compile_matches_eager_forward_and_backward():
    model = KAN([8, 6, 3], grid_size=5, k=3, seed=2)
    compiled = torch.compile(model)
    x = inputs(64, 8, seed=11)
    eager_out = model(x)
    eager_out.square().mean().backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled_out = compiled(x)
    compiled_out.square().mean().backward()
    torch.testing.assert_close(compiled_out, eager_out, **TOL)
    for got, expected in zip((p.grad for p in model.parameters()), eager_grads):
        torch.testing.assert_close(got, expected, **TOL)


def test_grid_update_keeps_the_grid_of_an_input_constant_on_the_samples():
    """A constant input has no range for its knots (they would coincide and the refit fail): it
    keeps its grid and coefficients; the other inputs update as before."""
    from kcm.kan import KANLayer

    torch.manual_seed(0)
    layer = KANLayer(2, 3, grid_size=5, k=3)
    reference = KANLayer(2, 3, grid_size=5, k=3)
    reference.load_state_dict(layer.state_dict())
    x = torch.stack([torch.linspace(-0.5, 0.8, 64), torch.zeros(64)], dim=1)
    old_grid, old_coef = layer.grid.clone(), layer.coef.clone()
    layer.update_grid_from_samples(x)
    assert torch.equal(layer.grid[1], old_grid[1]) and torch.equal(layer.coef[1], old_coef[1])
    assert not torch.equal(layer.grid[0], old_grid[0])
    varied = torch.stack([torch.linspace(-0.5, 0.8, 64), torch.linspace(-1, 1, 64)], dim=1)
    reference.update_grid_from_samples(varied)
    assert torch.allclose(layer.grid[0], reference.grid[0])  # input 0 updated exactly as it would be
    assert torch.isfinite(layer(x)).all()
