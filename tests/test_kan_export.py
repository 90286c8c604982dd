"""Our KAN goes through torch.export and ExecuTorch (XNNPACK) and matches eager."""

import pytest
import torch

from kcm.kan import KAN

executorch = pytest.importorskip("executorch")


@pytest.mark.parametrize("uniform", [True, False])
def test_executorch_runtime_matches_eager(tmp_path, uniform):
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    model = KAN([6, 5, 3], grid_size=5, k=3, seed=1).eval()
    if not uniform:
        for layer in model.layers:
            layer.grid_eps = 0.0
        model.update_grid_from_samples(torch.randn(200, 6, generator=torch.Generator().manual_seed(0)))
    assert all(layer.uniform == uniform for layer in model.layers)
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(1)) * 1.5
    with torch.no_grad():
        expected = model(x)
        program = torch.export.export(model, (x,))
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    pte = tmp_path / "kan.pte"
    pte.write_bytes(lowered.buffer)
    got = Runtime.get().load_program(pte).load_method("forward").execute([x])[0]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
