"""table_edge: the dense and SHARe-KAN heads on ExecuTorch: .pte size, planned arena, heap growth
and batch-1 latency in a fresh process."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kcm.io import read_json
from kcm.report.common import markdown_table, write_table
from kcm.report.share_common import DEVIATIONS, MB, mb


def render(inputs: dict[str, list[Path]], setup: None, outputs: dict[str, Path]) -> None:
    facts_json = read_json(inputs["share:edge_facts"][0])
    facts, runtime = facts_json["facts"], read_json(inputs["share:edge_runtime"][0])["runtime"]
    rows = []
    for name in facts:
        f, r = facts[name], runtime[name]
        rows.append({"head": name, "pte_bytes": f["pte_bytes"], "planned_arena_bytes": f["planned_arena_bytes"],
                     "lowering": f["lowering"], "max_abs_diff": f["max_abs_diff"],
                     "load_heap_bytes": r["delta_load_anon_bytes"], "execute_heap_bytes": r["delta_execute_anon_bytes"],
                     "peak_delta_bytes": r["delta_peak_bytes"], "latency_median_us": r["latency_median_us"],
                     "latency_p90_us": r["latency_p90_us"]})
    frame = pd.DataFrame(rows)
    shown = pd.DataFrame({
        "head": frame["head"], ".pte MB": [mb(v) for v in frame["pte_bytes"]],
        "planned arena MB": [mb(v) for v in frame["planned_arena_bytes"]],
        "load heap MB": [mb(v) for v in frame["load_heap_bytes"]], "execute heap MB": [mb(v) for v in frame["execute_heap_bytes"]],
        "peak RSS delta MB": [mb(v) for v in frame["peak_delta_bytes"]],
        "latency median µs": [f"{v:.0f}" for v in frame["latency_median_us"]],
        "p90 µs": [f"{v:.0f}" for v in frame["latency_p90_us"]],
        "max |pte − eager|": [f"{v:.1e}" for v in frame["max_abs_diff"]],
    })
    any_rt = next(iter(runtime.values()))
    notes = [
        "Each head (standardisation included: raw 1280-d features in, logits out) exported with torch.export → "
        "ExecuTorch (XNNPACK where it lowers, portable kernels for the rest) and run batch-1 in a fresh process, "
        f"one thread. The .pte size and the planned arena are deterministic; RSS and latency are measured "
        f"(median of {facts_json['params']['edge']['repeats']} calls) and vary from run to run.",
        "",
        f"- Heap deltas are RssAnon (the mapped .pte and shared libraries excluded); the runtime process itself holds "
        f"{any_rt['rss_runtime_baseline_bytes'] / MB:.0f} MB before loading anything.",
        "- The compressed heads run from codebook + indices (kcm.compress.compressed): every code word is evaluated once "
        "per input and input feature (in × K dot products), which is more arithmetic than the dense spline when K "
        "exceeds the layer's fan-out, and the projections take arena space. The .pte also keeps the full grid and "
        "int64 indices (the storage table counts packed indices and t0/h per input).",
    ]
    write_table(outputs, frame, markdown_table("SHARe-KAN on ExecuTorch: dense vs compressed heads, batch 1", shown,
                                               notes, DEVIATIONS + ["share.edge"]), digits=9)
