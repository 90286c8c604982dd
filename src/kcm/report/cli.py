"""Verbs of the report package: `render` (any registry target), `deviations`, `compare`, and the
metrics group's `classification` and `systems`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from kcm.report import registry

log = logging.getLogger("kcm")


def pairs(items: list[str], what: str) -> dict[str, list[Path]]:
    """["KEY=PATH", ...] -> {KEY: [PATH, ...]}: a key given several times collects several paths."""
    out: dict[str, list[Path]] = {}
    for item in items:
        key, sep, path = item.partition("=")
        if not sep or not key or not path:
            raise SystemExit(f"--{what} expects KEY=PATH, got {item!r}")
        out.setdefault(key, []).append(Path(path))
    return out


def _render(args: argparse.Namespace) -> None:
    outputs = {kind: paths[-1] for kind, paths in pairs(args.output, "output").items()}
    setup = None if args.setup is None else json.loads(args.setup)
    registry.render(args.name, pairs(args.input, "input"), setup, outputs)
    log.info("%s -> %s", args.name, ", ".join(str(p) for p in outputs.values()))


def _deviations(_: argparse.Namespace) -> None:
    from kcm.report.deviations import DEVIATIONS

    for key, text in DEVIATIONS.items():
        print(f"{key}: {text}\n")


def _compare(args: argparse.Namespace) -> None:
    from kcm.io import write_json, write_text
    from kcm.report.compare import compare_folders, markdown, summary_text

    report = compare_folders(args.a, args.b)
    print(summary_text(report))
    if args.out:
        write_json(args.out, report)
    if args.md:
        write_text(args.md, markdown(report))


def _metrics_classification(args: argparse.Namespace) -> None:
    import pandas as pd

    from kcm import metrics
    from kcm.io import read_json, write_json

    card = read_json(args.card)
    preds = pd.read_parquet(args.predictions)
    write_json(args.out, {"model": args.model, "splits": metrics.by_split(preds, card["classes"])})


def _metrics_systems(args: argparse.Namespace) -> None:
    from kcm import system_metrics
    from kcm.io import read_json, write_json, write_text

    if args.family == "classification" and args.card is None:
        raise SystemExit("metrics systems --family classification needs --card (class names)")
    card = read_json(args.card) if args.card else None
    large_meta = read_json(args.large_meta) if args.large_meta else None
    result, curves = system_metrics.systems(args.family, args.runs, card, large_meta)
    write_json(args.out, result)
    write_text(args.curves, curves.round(6).to_csv(index=False))
    log.info("%s metrics over seeds %s -> %s", args.family, result["seeds"], args.out)


def register(verbs, groups) -> None:
    render = verbs.add_parser("render", help="render one table, figure or macro file from artifacts")
    render.add_argument("name", choices=list(registry.TARGETS), metavar="TARGET",
                        help=f"one of: {', '.join(registry.TARGETS)}")
    render.add_argument("--input", action="append", default=[], metavar="KEY=PATH",
                        help="an artifact the target reads (kcm.report.registry); repeat a key for several paths")
    render.add_argument("--setup", help="JSON: the config-derived setup block the target's footer needs")
    render.add_argument("--output", action="append", required=True, metavar="KIND=PATH",
                        help="md/csv/tex for tables, png/pdf for figures, tex for macros")
    render.set_defaults(func=_render)

    dev = verbs.add_parser("deviations", help="print every deviation from the papers")
    dev.set_defaults(func=_deviations)

    cmp = verbs.add_parser("compare", help="agreement check: metrics of results folder B against A, each "
                           "difference with its 95 %% CI, and any verdict that differs (a report: exit 0)")
    cmp.add_argument("a", type=Path, help="reference results folder (results/<run>)")
    cmp.add_argument("b", type=Path, help="results folder to check against it")
    cmp.add_argument("--out", type=Path, help="the full comparison as JSON (stable key paths, for dvc metrics diff)")
    cmp.add_argument("--md", type=Path, help="a Markdown table of the metrics that moved beyond their CI")
    cmp.set_defaults(func=_compare)

    met = groups["metrics"]
    cls = met.add_parser("classification", help="accuracy, macro-F1, per-class accuracy by split")
    cls.add_argument("--predictions", type=Path, required=True)
    cls.add_argument("--card", type=Path, required=True, help="the dataset's card.json (class names)")
    cls.add_argument("--model", required=True, help="model name recorded in the JSON")
    cls.add_argument("--out", type=Path, required=True)
    cls.set_defaults(func=_metrics_classification)

    systems = met.add_parser("systems", help="systems and routers over seeds (mean, std, routing curves)")
    systems.add_argument("--family", choices=["classification", "retrieval"], required=True,
                         help="classification: accuracy and per-class metrics; retrieval: Recall@K per direction")
    systems.add_argument("--runs", type=Path, nargs="+", required=True, help="seed folders of kcm experiment")
    systems.add_argument("--card", type=Path, help="the dataset card (classification: class names, Many/Medium/Few "
                         "groups where it has them)")
    systems.add_argument("--large-meta", type=Path, help="retrieval: the large model's description "
                         "(kcm large retrieval --meta)")
    systems.add_argument("--out", type=Path, required=True, help="metrics JSON")
    systems.add_argument("--curves", type=Path, required=True, help="seed-averaged routing curves (.csv)")
    systems.set_defaults(func=_metrics_systems)
