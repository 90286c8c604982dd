"""SHARe-KAN on our heads: the codebook-size sweep (FP32 / Int8), the zero-shot pruning baseline,
every KAN judge the experiments trained, and the multi-head scaling. Accuracy is always measured
on the test split the head or judge was built for; storage by `kcm.compress.storage`."""

from __future__ import annotations

from pathlib import Path

import torch

from kcm.compress import (
    CompressionConfig,
    compress_kan,
    compressed_storage,
    dense_storage,
    fit_codebooks,
    kan_of,
    magnitude_prune,
    multi_head_storage,
    shared_codebook_compress,
)
from kcm.tasks.share.heads import accuracy, load_heads, standardised_inputs

PRECISIONS = {"fp32": dict(int8=False), "int8": dict(int8=True), "int8+base": dict(int8=True, int8_base=True)}


def config(params: dict, k: int, precision: str) -> CompressionConfig:
    return CompressionConfig(k=k, gain=params["gain"], seed=params["seed"], **PRECISIONS[precision])


def head_sweep(heads_path: Path, data_dir: Path, features: Path, params: dict) -> dict:
    """Head 0: dense, every (K, precision), and magnitude pruning at each sparsity."""
    torch.set_num_threads(1)
    heads, summary, mean, inv_std = load_heads(heads_path)
    x, y = standardised_inputs(data_dir, features, mean, inv_std)
    head = heads[0]
    dense = dense_storage(head)
    base_acc = accuracy(head, x["test"], y["test"])
    rows = [{"method": "dense", "k": None, "precision": "fp32", "bytes": dense.total_bytes,
             "ratio": 1.0, "accuracy": base_acc, "breakdown": dense.by_component()}]
    for k in params["codebook_sizes"]:
        codebooks = fit_codebooks(head, config(params, k, "fp32"))  # k-means once per K
        for precision in params["precisions"]:
            compressed = compress_kan(head, config(params, k, precision), codebooks)
            storage = compressed_storage(compressed)
            rows.append({"method": "share", "k": k, "precision": precision, "bytes": storage.total_bytes,
                         "ratio": dense.total_bytes / storage.total_bytes,
                         "accuracy": accuracy(compressed, x["test"], y["test"]),
                         "codes": [layer.n_codes for layer in compressed.layers],
                         "breakdown": storage.by_component()})
    for sparsity in params["prune"]:
        pruned = magnitude_prune(head, sparsity)
        rows.append({"method": "prune", "k": None, "precision": "fp32", "sparsity": sparsity,
                     # stored dense: zeros take the same bytes unless a sparse format is used
                     "bytes": dense.total_bytes, "ratio": 1.0,
                     "accuracy": accuracy(pruned, x["test"], y["test"])})
    for row in rows:
        row["retention"] = row["accuracy"] / base_acc if base_acc else None
    return {"head": {"width": summary["kan_width"], "params": summary["params"], "n_params": summary["kan"][0]["n_params"],
                     "mlp": summary["mlp"], "linear": summary["linear"], "dense_accuracy": base_acc,
                     "kan_heads": summary["kan"]},
            "rows": rows}


def judges_sweep(judge_dirs: list[Path], params: dict) -> list[dict]:
    """Every KAN judge in the given `judges/` folders, dense vs compressed at the default K."""
    from safetensors.torch import load_file

    from kcm.judges import Judge

    torch.set_num_threads(1)
    rows = []
    for folder in judge_dirs:
        tests = load_file(str(folder / "test_inputs.safetensors"))
        for path in sorted(folder.glob("*.safetensors")):
            if path.name == "test_inputs.safetensors":
                continue
            judge = Judge.load(path)
            if judge.config.kind != "kan":
                continue
            x, y = tests[f"{path.stem}/x"], tests[f"{path.stem}/y"]
            kan = kan_of(judge)
            dense = dense_storage(kan)
            before = accuracy(judge, x, y)
            codebooks = fit_codebooks(kan, config(params, params["k"], "fp32"))
            for precision in params["precisions"]:
                compressed = compress_kan(kan, config(params, params["k"], precision), codebooks)
                judge.net = compressed
                after = accuracy(judge, x, y)
                judge.net = kan
                storage = compressed_storage(compressed)
                rows.append({"experiment": folder.parent.parent.name, "seed_dir": folder.parent.name,
                             "judge": path.stem, "width": kan.width, "n_params": kan.n_params(),
                             "precision": precision, "dense_bytes": dense.total_bytes,
                             "bytes": storage.total_bytes, "ratio": dense.total_bytes / storage.total_bytes,
                             "accuracy_dense": before, "accuracy": after, "n": len(y)})
    return rows


def multi_head(heads_path: Path, data_dir: Path, features: Path, params: dict) -> dict:
    """N heads sharing one codebook per layer vs N dense heads. The trained heads are compressed
    with a shared codebook (accuracy of each, against its own codebook); storage for N heads
    repeats the trained heads' layout, which is what it depends on (shapes, K, dtypes)."""
    torch.set_num_threads(1)
    heads, _, mean, inv_std = load_heads(heads_path)
    x, y = standardised_inputs(data_dir, features, mean, inv_std)
    cfg = config(params, params["k"], "int8")
    shared = shared_codebook_compress(heads, cfg)
    own = [compress_kan(h, cfg) for h in heads]
    per_head = [{"seed": i, "dense": accuracy(h, x["test"], y["test"]), "shared": accuracy(s, x["test"], y["test"]),
                 "own": accuracy(o, x["test"], y["test"])} for i, (h, s, o) in enumerate(zip(heads, shared, own))]
    dense_one = dense_storage(heads[0]).total_bytes
    scaling = []
    for n in params["multi_head"]:
        layout = [shared[i % len(shared)] for i in range(n)]
        shared_bytes = multi_head_storage(layout, shared_codebook=True).total_bytes
        separate = multi_head_storage([own[i % len(own)] for i in range(n)], shared_codebook=False).total_bytes
        scaling.append({"heads": n, "dense_bytes": n * dense_one, "shared_bytes": shared_bytes,
                        "separate_bytes": separate, "ratio": n * dense_one / shared_bytes})
    return {"per_head": per_head, "scaling": scaling, "k": params["k"], "precision": "int8"}



def edge_variants(heads_path: Path, params: dict) -> dict:
    """The modules exported to ExecuTorch, each with the standardisation in front (raw
    features in, logits out): the dense KAN head, its SHARe-KAN versions and the MLP head."""
    from kcm.tasks.share.heads import HeadParams, Standardised, mlp_head

    heads, summary, mean, inv_std = load_heads(heads_path)
    head = heads[0]
    p = HeadParams(**{**summary["params"], "hidden": tuple(summary["params"]["hidden"])})
    mlp = mlp_head(summary["n_in"], summary["n_out"], p, 0)
    from safetensors.torch import load_file

    tensors = load_file(str(heads_path))
    mlp.load_state_dict({k.removeprefix("mlp."): v for k, v in tensors.items() if k.startswith("mlp.")})
    variants = {"dense KAN": head}
    for precision in params["edge"]["precisions"]:
        variants[f"SHARe-KAN {precision}, K={params['k']}"] = compress_kan(head, config(params, params["k"], precision))
    variants["MLP (same widths)"] = mlp.eval()
    return {name: Standardised(module, mean, inv_std).eval() for name, module in variants.items()}


def edge(heads_path: Path, data_dir: Path, features: Path, out_dir: Path, params: dict) -> tuple[dict, dict]:
    """Export every variant to a `.pte` (XNNPACK where it lowers) and run it in a fresh process.
    Returns (deterministic facts: .pte bytes, planned arena, ops, max |pte - eager|;
    measurements: RSS deltas and batch-1 latency, which vary from run to run)."""
    from kcm.edge import export_pte, measure_pte
    from kcm.tasks.share.heads import load_features

    torch.set_num_threads(1)
    x, _ = load_features(data_dir, features)
    example = x["test"][:1].contiguous()  # one real test image's features, batch 1
    facts, runtime = {}, {}
    for i, (name, module) in enumerate(edge_variants(heads_path, params).items()):
        pte = Path(out_dir) / f"head{i}.pte"
        exported = export_pte(module, example, pte, xnnpack=params["edge"]["xnnpack"])
        measured = measure_pte(pte, example, repeats=params["edge"]["repeats"], warmup=params["edge"]["warmup"])
        with torch.no_grad():
            eager = module(example)
        facts[name] = {"file": pte.name, "pte_bytes": exported["pte_bytes"],
                       "planned_arena_bytes": exported["planned_arena_bytes"], "lowering": exported["lowering"],
                       "delegated": exported["delegated"], "ops": exported["ops"],
                       "state_bytes": exported["state_bytes"],
                       "max_abs_diff": float((measured["output"] - eager).abs().max())}
        runtime[name] = {k: v for k, v in measured.items() if k not in ("output", "snapshots", "pte_path")}
    return facts, runtime
