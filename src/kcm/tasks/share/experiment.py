"""SHARe-KAN on our heads: the codebook-size sweep (FP32 / Int8) and the zero-shot pruning
baseline on every trained head, every KAN judge the experiments trained, and the multi-head
scaling at every precision. Heads are scored on validation (which chooses the operating points,
`kcm.share_select`) and test (which is reported); judges on their test split. Storage by
`kcm.compress.storage`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from kcm.compress import (
    CompressionConfig,
    code_indices,
    compress_kan,
    compressed_storage,
    dense_storage,
    fit_codebooks,
    fit_shared_codebooks,
    kan_of,
    magnitude_prune,
    multi_head_storage,
    reconstruct_kan,
    shared_codebook_compress,
)
from kcm.share_select import VERDICT_COST, choose
from kcm.tasks.share.heads import accuracy, load_heads, standardised_inputs
from kcm.tasks.share.scoring import SharedFirstLayer

PRECISIONS = {"fp32": dict(int8=False), "int8": dict(int8=True), "int8+base": dict(int8=True, int8_base=True)}


def config(params: dict, k: int, precision: str) -> CompressionConfig:
    return CompressionConfig(k=k, gain=params["gain"], seed=params["seed"], **PRECISIONS[precision])


def _scorers(head, x: dict) -> dict[str, SharedFirstLayer]:
    """Per split, the head's first-layer basis on its inputs (shared by its pruned and compressed copies)."""
    return {split: SharedFirstLayer(head, x[split]) for split in ("val", "test")}


def _scores(model, scorers: dict, y: dict) -> dict:
    return {split: scorer.accuracy(model, y[split]) for split, scorer in scorers.items()}


def _row(setting: dict, per_head: list[dict], dense_bytes: float) -> dict:
    """One setting over every trained head: mean bytes, val and test accuracy; the first head's
    codes, breakdown and absent tensors (the heads share their layout)."""
    mean_bytes = float(np.mean([h["bytes"] for h in per_head]))
    first = per_head[0]
    return {**setting, "bytes": int(mean_bytes) if mean_bytes.is_integer() else mean_bytes,
            "ratio": dense_bytes / mean_bytes, "val_accuracy": float(np.mean([h["val"] for h in per_head])),
            "accuracy": float(np.mean([h["test"] for h in per_head])),
            **{k: first[k] for k in ("codes", "breakdown", "absent") if k in first},
            "per_head": [{k: h[k] for k in ("seed", "bytes", "val", "test")} for h in per_head]}


def _storage_facts(storage) -> dict:
    return {"bytes": storage.total_bytes, "breakdown": storage.by_component(), "absent": storage.absent_items()}


def head_sweep(heads_path: Path, data_dir: Path, features: Path, params: dict) -> dict:
    """Every trained head: dense, every (K, precision), magnitude pruning at each sparsity, each
    scored on validation and test; rows hold the means over heads (and each head's numbers).
    `_codebooks` and `_codes` (not for the JSON) keep each head's k-means codebooks and nearest
    words per K for `multi_head`. Models are scored from each head's cached first-layer basis
    (`kcm.tasks.share.scoring`)."""
    torch.set_num_threads(1)
    heads, summary, mean, inv_std = load_heads(heads_path)
    x, y = standardised_inputs(data_dir, features, mean, inv_std)
    settings: dict[tuple, list[dict]] = {}
    codebooks: dict[tuple[int, int], list] = {}
    codes: dict[tuple[int, int], list] = {}

    def add(key: tuple, seed: int, facts: dict, model) -> None:
        settings.setdefault(key, []).append({"seed": seed, **facts, **_scores(model, scorers, y)})

    for seed, head in enumerate(heads):
        scorers = _scorers(head, x)
        dense = dense_storage(head)
        add(("dense", None, "fp32", None), seed, _storage_facts(dense), head)
        for k in params["codebook_sizes"]:
            codebooks[seed, k] = fit_codebooks(head, config(params, k, "fp32"))  # k-means once per K
            codes[seed, k] = code_indices(head, codebooks[seed, k])  # and nearest words once per K
            for precision in params["precisions"]:
                compressed = compress_kan(head, config(params, k, precision), codebooks[seed, k], codes[seed, k])
                facts = {**_storage_facts(compressed_storage(compressed)), "codes": [l.n_codes for l in compressed.layers]}
                add(("share", k, precision, None), seed, facts, compressed)
        for sparsity in params["prune"]:
            # stored dense: zeros take the same bytes unless a sparse format is used
            add(("prune", None, "fp32", sparsity), seed, {"bytes": dense.total_bytes}, magnitude_prune(head, sparsity))
    dense_rows = settings[("dense", None, "fp32", None)]
    dense_bytes = float(np.mean([h["bytes"] for h in dense_rows]))
    rows = []
    for (method, k, precision, sparsity), per_head in settings.items():
        setting = {"method": method, "k": k, "precision": precision}
        row = _row({**setting, **({"sparsity": sparsity} if method == "prune" else {})}, per_head, dense_bytes)
        rows.append(row if method != "prune" else {**row, "ratio": 1.0})
    base_acc = rows[0]["accuracy"]
    for row in rows:
        row["retention"] = row["accuracy"] / base_acc if base_acc else None
    first = heads[0]
    return {"head": {"width": summary["kan_width"], "params": summary["params"], "n_params": summary["kan"][0]["n_params"],
                     "mlp": summary["mlp"], "linear": summary["linear"], "heads": len(heads),
                     "dense_accuracy": base_acc, "dense_val_accuracy": rows[0]["val_accuracy"],
                     "uniform_grids": [bool(layer.uniform) for layer in first.layers],
                     "kan_heads": summary["kan"]},
            "rows": rows, "_codebooks": codebooks, "_codes": codes}


def kan_judges(judge_dirs: list[Path]):
    """(folder, judge name, Judge, the folder's test inputs) for every KAN judge in the given
    `judges/` folders, in name order."""
    from safetensors.torch import load_file

    from kcm.judges import Judge

    for folder in judge_dirs:
        tests = load_file(str(folder / "test_inputs.safetensors"))
        for path in sorted(folder.glob("*.safetensors")):
            if path.name == "test_inputs.safetensors":
                continue
            judge = Judge.load(path)
            if judge.config.kind == "kan":
                yield folder, path.stem, judge, tests


def judges_sweep(judge_dirs: list[Path], params: dict) -> list[dict]:
    """Every KAN judge in the given `judges/` folders, dense vs compressed at the default K."""
    torch.set_num_threads(1)
    rows = []
    for folder, name, judge, tests in kan_judges(judge_dirs):
        x, y = tests[f"{name}/x"], tests[f"{name}/y"]
        kan = kan_of(judge)
        dense = dense_storage(kan)
        before = accuracy(judge, x, y)
        codebooks = fit_codebooks(kan, config(params, params["k"], "fp32"))
        codes = code_indices(kan, codebooks)
        for precision in params["precisions"]:
            compressed = compress_kan(kan, config(params, params["k"], precision), codebooks, codes)
            judge.net = compressed
            after = accuracy(judge, x, y)
            judge.net = kan
            storage = compressed_storage(compressed)
            rows.append({"experiment": folder.parent.parent.name, "seed_dir": folder.parent.name,
                         "judge": name, "width": kan.width, "n_params": kan.n_params(),
                         "precision": precision, "dense_bytes": dense.total_bytes,
                         "bytes": storage.total_bytes, "ratio": dense.total_bytes / storage.total_bytes,
                         "accuracy_dense": before, "accuracy": after, "n": len(y)})
    return rows


def multi_head(heads_path: Path, data_dir: Path, features: Path, params: dict, sweep: dict) -> dict:
    """N heads sharing one codebook per layer vs N dense heads, at every precision and at the K
    the validation rule picks for the verdict (`select.choose` at the paper's 2 points; the
    config's K if no setting qualifies). The trained heads are compressed with a shared codebook
    (their accuracy against their own codebook); storage for N heads repeats the trained heads'
    layout, which is what it depends on (shapes, K, dtypes, which tensors are zero)."""
    torch.set_num_threads(1)
    heads, _, mean, inv_std = load_heads(heads_path)
    x, y = standardised_inputs(data_dir, features, mean, inv_std)
    chosen = choose(sweep, VERDICT_COST)
    k = chosen["k"] if chosen else params["k"]
    shared_codebooks = fit_shared_codebooks(heads, config(params, k, "fp32"))  # k-means once for every precision
    scorers = [_scorers(h, x) for h in heads]
    shared_codes = [code_indices(h, shared_codebooks) for h in heads]
    dense = [dense_storage(h).total_bytes for h in heads]
    per_head, scaling = [], []
    for precision in params["precisions"]:
        cfg = config(params, k, precision)
        shared = shared_codebook_compress(heads, cfg, shared_codebooks, shared_codes)
        own = [compress_kan(h, cfg, sweep["_codebooks"].get((i, k)), sweep["_codes"].get((i, k)))
               for i, h in enumerate(heads)]
        for i, (h, s, o) in enumerate(zip(heads, shared, own)):
            scores = {name: _scores(m, scorers[i], y) for name, m in (("dense", h), ("shared", s), ("own", o))}
            per_head.append({"seed": i, "precision": precision, **{n: v["test"] for n, v in scores.items()},
                             **{f"{n}_val": v["val"] for n, v in scores.items()}})
        own_bytes = [compressed_storage(o).total_bytes for o in own]
        for n in params["multi_head"]:
            layout = [i % len(heads) for i in range(n)]
            shared_bytes = multi_head_storage([shared[i] for i in layout], shared_codebook=True).total_bytes
            dense_bytes = sum(dense[i] for i in layout)
            scaling.append({"heads": n, "precision": precision, "dense_bytes": dense_bytes, "shared_bytes": shared_bytes,
                            "separate_bytes": sum(own_bytes[i] for i in layout), "ratio": dense_bytes / shared_bytes})
    return {"per_head": per_head, "scaling": scaling, "k": k,
            "chosen": {"max_cost": VERDICT_COST, "split": "val", "k": k,
                       "precision": chosen["precision"] if chosen else None}}


def edge_variants(heads_path: Path, params: dict) -> tuple[dict, dict]:
    """(name -> module exported to ExecuTorch, name -> the module a runtime program must equal).

    Each module has the standardisation in front (raw features in, logits out): the dense KAN
    head as trained, its SHARe-KAN versions and the MLP head; then the two deployed programs
    (kcm.edge.runtime_heads) whose memory the runtime claim compares: the dense head folded
    (equal to the trained head) and the codebook runtime of the Int8 head (equal to the dense
    KAN reconstructed from it)."""
    from kcm.tasks.share.heads import HeadParams, Standardised, mlp_head

    heads, summary, mean, inv_std = load_heads(heads_path)
    head = heads[0]
    p = HeadParams(**{**summary["params"], "hidden": tuple(summary["params"]["hidden"])})
    mlp = mlp_head(summary["n_in"], summary["n_out"], p, 0)
    from safetensors.torch import load_file

    tensors = load_file(str(heads_path))
    mlp.load_state_dict({k.removeprefix("mlp."): v for k, v in tensors.items() if k.startswith("mlp.")})
    variants = {"dense KAN": head}
    compressed = {precision: compress_kan(head, config(params, params["k"], precision))
                  for precision in {*params["edge"]["precisions"], "int8"}}
    for precision in params["edge"]["precisions"]:
        variants[f"SHARe-KAN {precision}, K={params['k']}"] = compressed[precision]
    variants["MLP (same widths)"] = mlp.eval()
    out = {name: Standardised(module, mean, inv_std).eval() for name, module in variants.items()}
    programs, references = runtime_programs(head, compressed["int8"], mean, inv_std, params)
    out.update(programs)
    return out, {RUNTIME_DENSE: out["dense KAN"], **references}


RUNTIME_DENSE = "runtime: dense KAN, folded"
RUNTIME_CODEBOOK = "runtime: SHARe-KAN codebook, int8"


def runtime_programs(kan, int8, mean: torch.Tensor, inv_std: torch.Tensor, params: dict) -> tuple[dict, dict]:
    """The two deployed programs of a KAN with its standardisation (kcm.edge.runtime_heads), and
    what each must equal: the KAN itself (dense) and the dense KAN reconstructed from its Int8
    compression (codebook)."""
    from kcm.edge.runtime_heads import CodebookRuntimeKAN, DenseRuntimeKAN
    from kcm.tasks.share.heads import Standardised

    tile = params["edge"]["tile"]
    codebook = f"{RUNTIME_CODEBOOK}, K={params['k']}"
    programs = {RUNTIME_DENSE: DenseRuntimeKAN(kan, mean, inv_std, tile).eval(),
                codebook: CodebookRuntimeKAN(int8, mean, inv_std, tile).eval()}
    references = {RUNTIME_DENSE: Standardised(kan, mean, inv_std).eval(),
                  codebook: Standardised(reconstruct_kan(int8), mean, inv_std).eval()}
    return programs, references


def judge_programs(judge_dirs: list[Path], params: dict):
    """Per KAN judge of the given `judges/` folders: (name, programs, references, test inputs)
    of its two deployed programs. A program computes the judge's logits before its temperature
    (one scalar)."""
    for folder, name, judge, tests in kan_judges(judge_dirs):
        kan = kan_of(judge)
        int8 = compress_kan(kan, config(params, params["k"], "int8"))
        programs, references = runtime_programs(kan, int8, judge.standardize.mean, judge.standardize.inv_std, params)
        yield f"{folder.parent.parent.name}/{name}", programs, references, tests[f"{name}/x"]


def edge(heads_path: Path, data_dir: Path, features: Path, out_dir: Path, params: dict) -> tuple[dict, dict]:
    """Export every variant to a `.pte` (XNNPACK where it lowers) and run it in a fresh process.
    Returns (deterministic facts: .pte bytes, planned arena, ops, max |pte - eager|;
    measurements: RSS deltas and batch-1 latency, which vary from run to run)."""
    from kcm.tasks.share.heads import load_features

    torch.set_num_threads(1)
    x, _ = load_features(data_dir, features)
    # one real test image's features at batch 1; a batch of them for the reference check
    example, batch = x["test"][:1].contiguous(), x["test"][:256].contiguous()
    facts, runtime = {}, {}
    variants, references = edge_variants(heads_path, params)
    for i, (name, module) in enumerate(variants.items()):
        facts[name], runtime[name] = _export_and_measure(module, references.get(name), example, batch,
                                                         Path(out_dir) / f"head{i}.pte", params)
    return facts, runtime


def edge_judges(judge_dirs: list[Path], params: dict) -> tuple[dict, dict]:
    """`edge` for every KAN judge's two runtime programs ("<experiment>/<judge>: dense" and
    ": codebook"), on its own test inputs; the .pte files are measured, not kept."""
    torch.set_num_threads(1)
    facts, runtime = {}, {}
    with tempfile.TemporaryDirectory(prefix="kcm-judges-") as tmp:
        for judge, programs, refs, tests in judge_programs(judge_dirs, params):
            for name, module in programs.items():
                key = f"{judge}: {'dense' if name == RUNTIME_DENSE else 'codebook'}"
                facts[key], runtime[key] = _export_and_measure(
                    module, refs[name], tests[:1].contiguous(), tests[:256].contiguous(), Path(tmp) / "judge.pte",
                    params)
    return facts, runtime


def _export_and_measure(module, reference, example: torch.Tensor, batch: torch.Tensor, pte: Path,
                        params: dict) -> tuple[dict, dict]:
    """(facts, measurements) of one module exported to `pte` and run in a fresh process. A
    runtime program (one with a `reference`) also gets its constants by kind, its difference
    from the function it stands for, eager on `batch` and in the .pte on `example`, and that
    function's largest |output| on `batch` (float32 rounding grows with it)."""
    from kcm.edge import export_pte, measure_pte
    from kcm.edge.runtime_heads import constant_breakdown

    # The runtime programs go through the portable kernels: XNNPACK does not lower their loop,
    # and lowering their operators one by one keeps every temporary live (measured on an
    # unrolled program: a 1.66 MB arena instead of 63 kB, at the same latency).
    xnnpack = params["edge"]["xnnpack"] and reference is None
    exported = export_pte(module, example, pte, xnnpack=xnnpack)
    measured = measure_pte(pte, example, repeats=params["edge"]["repeats"], warmup=params["edge"]["warmup"])
    with torch.no_grad():
        eager = module(example)
    facts = {"file": pte.name, "pte_bytes": exported["pte_bytes"],
             "planned_arena_bytes": exported["planned_arena_bytes"], "lowering": exported["lowering"],
             "delegated": exported["delegated"], "ops": exported["ops"], "state_bytes": exported["state_bytes"],
             "max_abs_diff": float((measured["output"] - eager).abs().max())}
    if reference is not None:  # the runtime program computes the function it stands for
        facts["constants_by_kind"] = constant_breakdown(module)
        with torch.no_grad():
            facts["reference_eager_diff"] = float((module(batch) - reference(batch)).abs().max())
            facts["reference_pte_diff"] = float((measured["output"] - reference(example)).abs().max())
            facts["reference_scale"] = float(reference(batch).abs().max())
    return facts, {k: v for k, v in measured.items() if k not in ("output", "snapshots", "pte_path")}
