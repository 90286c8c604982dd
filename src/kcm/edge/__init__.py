"""Edge runtime measurement of small heads: export to ExecuTorch (`.pte`) and measure it.

`export_pte` lowers any `torch.nn.Module` mapping a (1, n_in) float32 tensor to (1, n_out)
through torch.export -> ExecuTorch (XNNPACK delegate, portable kernels as fallback) and writes
the `.pte` atomically, returning its deterministic memory figures (file size, planned arena).
`measure_pte` runs the `.pte` in a fresh Python process (`python -m kcm.edge.probe`) and
reports RSS around load and execute, batch-1 latency and the first output.

Names are imported lazily: `python -m kcm.edge.probe` runs this file first, and the probe's
baseline RSS must not include torch models, pandas (kcm.io) or the exporter.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "EdgeExportError": "kcm.edge.export",
    "export_pte": "kcm.edge.export",
    "EdgeProbeError": "kcm.edge.measure",
    "max_abs_diff": "kcm.edge.measure",
    "measure_pte": "kcm.edge.measure",
    "probe_baseline": "kcm.edge.measure",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
