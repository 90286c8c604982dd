"""Benchmark: every rule of the paper profile, run on this CPU at three data sizes with the
paper's model architectures, fitted against size and extrapolated to the paper's sizes (issue 18).

    python -m kcm bench rule-scaling [--sizes 1 2 4] [--quick] [--out-dir results/bench]

For each size s, `snakemake all` runs on config/paper.yaml plus an overlay that changes only:
- the sources: stand-ins in the real formats (`kcm.bench.standins`) served on loopback, md5-checked,
  with s x the rows (language 20 s texts, CIFAR-100-LT 10 classes at n_max 20 s, COCO 32 s images);
- the models: the paper's architectures with random weights, built offline (BERT-base, a
  Qwen2.5-0.5B-shaped causal LM, open_clip ViT-B-32; ResNet-32, BBN ResNet-32 and Lite0 as configured);
- the loop counts that would take hours here (epochs 1, folds 2, retrieval steps 10): their ratio
  to the paper's is a rule's *work ratio*, written next to it;
- one seed, the CPU allowed, the LLM in float32 (the paper's bfloat16 is slow on CPUs).

Per rule, least squares (scipy.stats.linregress) of wall seconds and of peak RSS against the
modality's rows (train + val + test) over the three sizes, read at the paper's rows:
  time_cpu = a + b * N_paper * work_ratio      (the whole per-row cost scaled: errs long)
  rss      = c + d * N_paper                  (memory does not grow with epochs or folds)
RSS is extrapolated only where its growth is resolved at these sizes (`resolved`); elsewhere the
largest RSS measured is reported as a floor.
experiment_retrieval trains its small model for a fixed number of steps, not per row: its
training time is the paper's fits x steps x the step time at the paper's batch, measured in this
run (`paper_scale.retrieval_steps`), added to its fitted time. A GPU rule's time on one GPU is
a + (time_cpu - a) / SPEEDUP, with SPEEDUP an assumption (no GPU here), chosen low so that the
limits err long. The proposed Slurm limits are 2x that time in whole quarter hours (at most 12 h) and 1.5x the RSS
(at least 2 GB); `workflow/profiles/slurm/config.yaml` is set from them and a test checks that it
stays at or above them.

A benchmark, not a test: the numbers depend on the machine. Random weights cost what trained
ones do (same shapes and operations); word-level tokens stand in for WordPiece/BPE tokens.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import math
import os
import platform
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from kcm.bench import paper_scale, standins
from kcm.bench.workflow import copy_checkout, read_benchmarks, run_all
from kcm.io import write_text

SPEEDUP = 20.0  # assumed: one data-centre GPU against the one or two CPU threads a job uses here
PAPER_ROWS = {  # train + val + test rows at the paper profile
    "language": 8000,  # AG News, 2,000 per class x 4 (config/paper.yaml max_per_class)
    "vision": 10847 + 1000 + 9000,  # CIFAR-100-LT IF 100; val 10 per class held out of the 10k test images
    "retrieval": 30000 + 5000 + 5000,  # COCO Karpathy: the 30k training subset, 5k val, 5k test
}
AG_NEWS = ["World", "Sports", "Business", "Sci/Tech"]
CIFAR_CLASSES = ["apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle"]
WORDS_PER_TEXT = 40  # about an AG News text (title + description); an assumption, not measured here
CAPTION_WORDS = 10  # about a COCO caption
QWEN25_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                  num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                  rope_theta=1_000_000.0, tie_word_embeddings=True,
                  attention_bias=True)  # Qwen2.5-0.5B-Instruct's config.json (its q/k/v biases; o has none there)
VOCAB = [f"w{i}" for i in range(2000)]  # the stand-in texts' words, and the tokenizers' vocabulary
# The loop counts the bench shrinks (their paper / bench ratio is a rule's work ratio); the
# retrieval small model's steps are counted apart (`extrapolate`).
LOOPS = {
    "language": {"loop": {"folds": 2}, "large_a": {"folds": 2, "finetune": {"epochs": 1}}},
    "vision": {"small": {"epochs": 1}, "large": {"folds": 2}, "bbn": {"epochs": 1, "folds": 2}, "loop": {"folds": 2}},
    "retrieval": {"loop": {"folds": 2}},
}
GPU_RULES = {"large_language_a", "large_language_b", "features_vision", "large_vision", "large_vision_bbn",
             "experiment_vision", "features_retrieval", "large_retrieval_openclip", "experiment_retrieval"}


def rows(s: int) -> dict[str, int]:
    """The stand-in's rows per modality at size s (train + val + test)."""
    from kcm.data.long_tail import lt_counts

    vision = sum(lt_counts(20 * s, len(CIFAR_CLASSES), 10)) + len(CIFAR_CLASSES) * 10 * s
    return {"language": 20 * s, "vision": vision, "retrieval": 32 * s}


def modality(rule: str) -> str | None:
    for name, words in (("language", ("language", "huggingface", "text_baseline")),
                        ("vision", ("vision", "cifar", "share_heads", "share_sweep")),
                        ("retrieval", ("retrieval", "coco"))):
        if any(w in rule for w in words):
            return name
    return None


def fits_per_seed(loop: dict) -> int:
    """Small-model fits in one seed: round 0 and each router's rounds, every one out-of-fold plus a full fit."""
    return (1 + 2 * loop["rounds"]) * (loop["folds"] + 1)


def work_ratios(paper: dict) -> dict[str, tuple[float, str]]:
    """Paper / bench work per row, for rules whose loop counts the bench shrinks (LOOPS)."""
    bench = layered(paper, LOOPS)

    def ratio(path: str) -> float:
        keys = path.split(".")
        return functools.reduce(dict.get, keys, paper) / functools.reduce(dict.get, keys, bench)

    a, v, b = "language.large_a.finetune.epochs", "vision.small.epochs", "vision.bbn.epochs"
    fits = {m: fits_per_seed(paper[m]["loop"]) / fits_per_seed(bench[m]["loop"]) for m in ("language", "vision")}
    return {
        "large_language_a": (ratio(a) * ratio("language.large_a.folds"), "epochs x folds (each fold trains on (f-1)/f of the rows, plus the full fit)"),
        "large_vision": (ratio(v) * ratio("vision.large.folds"), "ResNet epochs x out-of-fold fits for the hints"),
        "large_vision_bbn": (ratio(b) * ratio("vision.bbn.folds"), "BBN epochs x out-of-fold fits"),
        "experiment_vision": (ratio(v) * fits["vision"], "ResNet epochs x fits per seed (1 + 2 rounds) x (folds + 1)"),
        "experiment_language": (fits["language"], "fits per seed (1 + 2 rounds) x (folds + 1)"),
    }


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def text_parquet(path: Path, n: int, seed: int) -> None:
    """n AG-News-shaped texts (WORDS_PER_TEXT words, 4 classes)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(AG_NEWS)
    texts = [" ".join(rng.choice(VOCAB, WORDS_PER_TEXT)) for _ in range(n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": texts, "label": labels}).to_parquet(path)


def models(folder: Path) -> dict[str, str]:
    """The paper's language and retrieval architectures with random weights (built once)."""
    import open_clip
    import torch
    from transformers import (
        BertConfig,
        BertModel,
        BertTokenizer,
        LlamaConfig,
        LlamaForCausalLM,
    )

    from kcm.models import instruct_llm as il

    out = {"bert": folder / "bert", "llm": folder / "llm", "clip": folder / "clip"}
    if (folder / "done").exists():
        return {k: str(v) for k, v in out.items()} | {"clip": f"local-dir:{out['clip']}"}
    shutil.rmtree(folder, ignore_errors=True)
    vocab = VOCAB + [w.lower() for c in AG_NEWS for w in c.split("/")]
    out["bert"].mkdir(parents=True)
    (out["bert"] / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *vocab]) + "\n")
    BertTokenizer(vocab=str(out["bert"] / "vocab.txt")).save_pretrained(out["bert"])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        BertModel(BertConfig()).save_pretrained(out["bert"])  # BertConfig() is bert-base-uncased's shape
        corpus = [il.build_prompt(" ".join(vocab), AG_NEWS, None, h) + il.PLAIN_SUFFIX for h in (None, *AG_NEWS)]
        template = ("{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] }} <|im_end|>{% endfor %}"
                    "{% if add_generation_prompt %}<|im_start|>assistant{% endif %}")
        standins.word_level_tokenizer(out["llm"], corpus, ["[PAD]", "[UNK]", "<s>", "</s>", "<|im_start|>", "<|im_end|>"], template)
        # Qwen2 is llama's layers with q/k/v biases; a llama folder, because transformers loads a
        # qwen2 folder's tokenizer as Qwen's BPE class, which cannot read a word-level tokenizer.
        LlamaForCausalLM(LlamaConfig(**QWEN25_05B)).save_pretrained(out["llm"])
    clip = standins.open_clip_folder(out["clip"], open_clip.get_model_config("ViT-B-32"))
    (folder / "done").write_text("")
    return {"bert": str(out["bert"]), "llm": str(out["llm"]), "clip": clip}


def overlay(s: int, root: Path, url: str, model: dict[str, str], quick: bool) -> dict:
    """Writes the sources of size s under `root` and returns the bench's config over
    config/paper.yaml: sources, models and loop counts (LOOPS) only."""
    rng = np.random.default_rng(s)
    sources = {"cifar": standins.cifar_archive(CIFAR_CLASSES, 20 * s, 10 * s, rng),
               **standins.coco_sources(16 * s, 8 * s, 8 * s, image_size=(224, 224), caption_words=CAPTION_WORDS)}
    served = root / "served"
    served.mkdir(parents=True, exist_ok=True)
    for name, payload in sources.items():
        (served / name).write_bytes(payload)
    md5 = {name: hashlib.md5(payload).hexdigest() for name, payload in sources.items()}
    text = root / "text" / "train.parquet"
    text_parquet(text, rows(s)["language"], seed=s)
    coco = ("karpathy", "train2014", "val2014")
    config = {
        "run": "paper", "offline": True, "allow_cpu": True,
        "data": {
            "huggingface": {"path": "parquet", "data_files": {"train": str(text)}, "splits": ["train"],
                            "revision": None, "label_names": AG_NEWS, "max_per_class": None},
            "cifar100_lt": {"url": f"{url}/cifar", "md5": md5["cifar"], "n_max": 20 * s, "imbalance": 10,
                            "val_per_class": 2 * s},
            "coco_karpathy": {"md5": {p: md5[p] for p in coco}, "urls": {p: f"{url}/{p}" for p in coco},
                              "max_per_split": None},
        },
        "language": {"seeds": [0], "large_a": {"finetune": {"model_id": model["bert"]}},
                     "large_b": {"llm": {"model_id": model["llm"], "dtype": "float32"}}},
        "vision": {"seeds": [0]},
        "retrieval": {"seeds": [0], "large": {"model": model["clip"], "pretrained": "", "device": "cpu"},
                      "small": {"steps": 2 if quick else 10, "batch_size": 16}},
    }
    return layered(config, LOOPS)


def layered(*configs: dict) -> dict:
    import copy

    from snakemake.utils import update_config

    out: dict = {}
    for config in configs:
        update_config(out, copy.deepcopy(config))
    return out


def paper_profile(repo: Path) -> dict:
    """config/config.yaml with config/paper.yaml over it, as `--configfile config/paper.yaml` reads them."""
    return layered(*(yaml.safe_load((repo / "config" / f).read_text()) for f in ("config.yaml", "paper.yaml")))


def fit(table: pd.DataFrame, column: str) -> tuple[float, float, float, float]:
    """(intercept, slope per row, r^2, p-value of the slope) of `column` against rows."""
    from scipy import stats

    if table["rows"].nunique() < 2:
        return float(table[column].max()), 0.0, float("nan"), float("nan")
    line = stats.linregress(table["rows"], table[column])
    return float(line.intercept), float(line.slope), float(line.rvalue ** 2), float(line.pvalue)


def resolved(slope: float, r2: float, p: float) -> bool:
    """Growth with size measured, not noise: a positive slope with r^2 >= 0.9 and p < 0.1 (3 points)."""
    return slope > 0 and r2 >= 0.9 and p < 0.1


def extrapolate(jobs: pd.DataFrame, ratios: dict, step_s: float, paper: dict) -> pd.DataFrame:
    """Per rule: the fitted lines read at the paper's rows. Memory is extrapolated only where its
    growth is resolved at the bench's sizes (the allocator's +-100 MB swings hide a few MB of data
    rows); elsewhere rss_gb is the largest measured RSS, a floor, marked `rss_resolved` False."""
    out = []
    for rule, table in jobs.groupby("rule"):
        m = modality(rule)
        n = PAPER_ROWS[m] if m else 0
        a, b, r2, _ = fit(table, "wall_s")
        c, d, r2_rss, p_rss = fit(table, "max_rss_mb")
        ratio, why = ratios.get(rule, (1.0, ""))
        a = max(a, 0.0)
        cpu = a + max(b, 0.0) * n * ratio
        if rule == "experiment_retrieval":  # fixed steps, not per row: the paper's training, measured per step
            cpu += fits_per_seed(paper["retrieval"]["loop"]) * paper["retrieval"]["small"]["steps"] * step_s
            why = (f"+ {fits_per_seed(paper['retrieval']['loop'])} fits x {paper['retrieval']['small']['steps']} "
                   f"steps x {step_s:.2f} s (batch 1,024, measured)")
        gpu = a + (cpu - a) / SPEEDUP if rule in GPU_RULES else cpu
        memory_grows = resolved(d, r2_rss, p_rss)
        rss = c + d * n if memory_grows else float(table["max_rss_mb"].max())
        sizes = table.sort_values("rows")
        out.append({
            "rule": rule, "modality": m or "-", "rows": "/".join(str(int(r)) for r in sizes["rows"]),
            "wall_s": "/".join(f"{w:.0f}" for w in sizes["wall_s"]),
            "rss_mb": "/".join(f"{r:.0f}" for r in sizes["max_rss_mb"]),
            "s_per_1k_rows": 1000 * b, "r2_time": r2, "paper_rows": n, "work_ratio": ratio, "work": why,
            "cpu_h": cpu / 3600, "gpu": rule in GPU_RULES, "expected_h": gpu / 3600,
            "mb_per_1k_rows": 1000 * d, "r2_rss": r2_rss, "rss_resolved": memory_grows, "rss_gb": rss / 1024,
            "runtime_min": int(min(720, max(15, 15 * math.ceil(2 * gpu / 60 / 15)))),
            "mem_mb": int(max(2000, 1000 * math.ceil(1.5 * rss / 1000))),
        })
    return pd.DataFrame(out).sort_values("expected_h", ascending=False)


def render(table: pd.DataFrame, step_s: float, wall: dict, quick: bool) -> str:
    shown = table.drop(columns=["work", "paper_rows"]).copy()
    lines = ["# Paper-profile rules measured at three data sizes and extrapolated (issue 18)", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
             + (" (--quick)" if quick else "") + ". `snakemake --cores 2 all` per size, wall "
             + ", ".join(f"s={s}: {w / 60:.1f} min" for s, w in wall.items()) + ".", "",
             "Columns: rows, wall_s and rss_mb per size (the modality's train + val + test rows); s_per_1k_rows "
             "and r2_time from the least-squares line of wall seconds on rows; cpu_h: the line read at the paper's "
             "rows with the per-row cost x work_ratio, on this CPU; expected_h: on one GPU for GPU rules "
             f"(the per-row part / {SPEEDUP:.0f}, an assumed speed-up); runtime_min and mem_mb: the proposed first-"
             "attempt Slurm limits (2x expected_h in quarter hours, at most 12 h; 1.5x the extrapolated RSS, at "
             "least 2 GB). Memory is extrapolated only where its growth is resolved at these sizes (rss_resolved: "
             "slope > 0, r2_rss >= 0.9, p < 0.1); elsewhere rss_gb is the largest RSS measured, a floor, and the "
             "profile's memory comes from the data sizes (docs/slurm.md). GPU memory is not measured.", "",
             f"Retrieval small model, one training step at the paper's batch (1,024 images x 5 captions, 16,384 "
             f"n-grams), one thread, this run: {step_s * 1000:.0f} ms.", "",
             shown.to_markdown(index=False, floatfmt=".3g"), "", "Work ratios (paper / bench work per row):", ""]
    lines += [f"- `{r.rule}`: {r.work_ratio:.0f}x, {r.work}" for r in table.itertuples() if r.work]
    return "\n".join(lines) + "\n"


def report(jobs: pd.DataFrame, wall: dict, step_s: float, paper: dict, out_dir: Path, quick: bool) -> None:
    table = extrapolate(jobs, work_ratios(paper), step_s, paper)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "rule_scaling_jobs.csv", jobs.to_csv(index=False))
    write_text(out_dir / "rule_scaling.csv", table.to_csv(index=False))
    text = render(table, step_s, wall, quick)
    write_text(out_dir / "rule_scaling.md", text)
    print(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kcm bench rule-scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--quick", action="store_true", help="sizes 1 and 2, 2 retrieval steps (a smoke run)")
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--out-dir", type=Path, default=Path("results/bench"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--from-jobs", type=Path, help="re-read a run's rule_scaling_jobs.csv instead of running")
    parser.add_argument("--step-ms", type=float, help="with --from-jobs: that run's retrieval step time")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    paper = paper_profile(repo)
    if args.from_jobs:
        if args.step_ms is None:
            parser.error("--from-jobs needs --step-ms (the run's report prints it)")
        found = pd.read_csv(args.from_jobs)
        wall = found.groupby("size")["workflow_wall_s"].first().to_dict()
        report(found, wall, args.step_ms / 1000, paper, args.out_dir, args.quick)
        return
    sizes = [1, 2] if args.quick else args.sizes
    scratch = repo / ".tmp" / "bench-rule-scaling"
    print("building the models (random weights, the paper's shapes) ...", flush=True)
    model = models(scratch / "models")
    jobs, wall = [], {}
    for s in sizes:
        root = scratch / f"s{s}"
        httpd, url = serve(root / "served")
        try:
            config = overlay(s, root, url, model, args.quick)
            work = root / "work"
            copy_checkout(repo, work)
            (work / "bench.yaml").write_text(yaml.safe_dump(config))
            print(f"size {s}: rows {rows(s)}; running `snakemake all` ...", flush=True)
            wall[s] = run_all(work, 2, "paper", ("--configfile", "config/paper.yaml", "bench.yaml"))
        finally:
            httpd.shutdown()
        found = read_benchmarks(work / "results" / "paper" / "benchmarks")
        found["rows"] = [rows(s)[modality(r)] if modality(r) else 0 for r in found["rule"]]
        found["size"] = s
        found["workflow_wall_s"] = wall[s]
        jobs.append(found)
        print(f"size {s}: {wall[s] / 60:.1f} min", flush=True)
    step_s = paper_scale.retrieval_steps(2 if args.quick else 5, kinds=("sparse",))["sparse"] / 1000
    report(pd.concat(jobs), wall, step_s, paper, args.out_dir, args.quick)
    if not args.keep:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
