"""table_claims: each headline claim of the two papers beside our measurement, its profile and
scale, a 95 % CI of the quantity the verdict reads, and a verdict from one taxonomy
(kcm.report.claims_verdicts), computed from the metrics, data cards and SHARe-KAN artifacts only.

KCM rows: claims_kcm (two-level paired bootstrap over seeds and test samples, from the metrics'
comparisons block; the forgetting premise over seeds). SHARe-KAN rows: claims_share (exact
storage counts, per-head t intervals of the accuracy cost). KCM systems are read at the paper's
ε and, for KCM − MCM and the calls claim, at the operating points chosen on validation.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kcm.io import read_json
from kcm.report import claims_sweep
from kcm.report.claims_kcm import kcm_rows
from kcm.report.claims_share import share_rows
from kcm.report.claims_verdicts import CONTRARY, MEANING, TAXONOMY, word
from kcm.report.common import markdown_table, split_mode, write_table

SHOWN = {"paper": "paper", "claim": "claim", "paper_value": "paper's number", "profile": "profile", "scale": "scale",
         "ours": "ours", "ci": "95 % CI", "verdict": "verdict", "sweep": "survives the sweep", "basis": "basis", "source": "source"}
DEVIATIONS = ["language.dataset", "vision.dataset", "retrieval.dataset", "share.task"]


def scale(card: dict, seeds: int, unit: str = "seeds", params: dict | None = None) -> str:
    """'<dataset>: n_train N, n_test M; S seeds × 1 split (fixed, data split seed k)' from a data
    card, or '... S seeds × S train/val splits (one per seed; test fixed, data split seed k)' when
    the run's params say loop.split = per_seed (k: the seed the data card's split was built with)."""
    files = card["files"]
    test = f"{files['test']['rows']}"
    if "captions" in card:  # retrieval: images and the captions that query them
        test += f" images / {card['captions']['test']['captions']} captions"
    splits = (f"{seeds} train/val splits (one per seed; test fixed" if split_mode(params) == "per_seed"
              else "1 split (fixed")
    return (f"{card.get('dataset', '?')}: n_train {files['train']['rows']}, n_test {test}; {seeds} {unit} × {splits}, "
            f"data split seed {card.get('seed', '?')})")


def context(setup: dict, cards: dict, language: dict, vision: dict, retrieval: dict, forgetting: list,
            sweep: dict) -> dict:
    return {"profile": setup["run"],
            **{m: scale(cards[m], len(metrics["seeds"]), params=metrics.get("params"))
               for m, metrics in (("language", language), ("vision", vision), ("retrieval", retrieval))},
            "forgetting": scale(cards["vision"], len(forgetting)),
            "share": scale(cards["vision"], sweep["head"].get("heads", 1), "heads"),
            "benchmarks": ", ".join(cards[m].get("dataset", m) for m in ("language", "vision", "retrieval"))}


def build(language: dict, vision: dict, retrieval: dict, forgetting: list[dict], sweep: dict, cards: dict,
          setup: dict) -> pd.DataFrame:
    ctx = context(setup, cards, language, vision, retrieval, forgetting, sweep)
    rows = [*kcm_rows(language, vision, retrieval, forgetting, ctx), *share_rows(sweep, ctx)]
    unknown = [r["verdict"] for r in rows if word(r["verdict"]) not in TAXONOMY]
    if unknown:
        raise ValueError(f"verdicts outside the taxonomy: {unknown}")
    return pd.DataFrame(rows)


SWEEP_NOTE = ("- Survives the sweep: whether the verdict's reading stays the same under every setting of the "
              "robustness sweep that changes the metrics the claim reads (table_robustness: each setting, its "
              "outcome and CI; config robustness.axes); not swept where no axis reads it.")


def named_deviations(frame: pd.DataFrame) -> list[str]:
    """The deviation keys the contrary verdicts name."""
    return sorted({v.split("deviation ")[1].rstrip(")") for v in frame["verdict"] if word(v) == CONTRARY})


def notes(frame: pd.DataFrame, method: dict, eps: float) -> list[str]:
    named = named_deviations(frame)
    return [
        "Every number is read from the named artifact under results/<run>/ (no model runs here). Verdicts: "
        + "; ".join(f"{w} = {MEANING[w]}" for w in TAXONOMY) + ". A verdict other than inconclusive needs the CI to "
        "exclude the no-effect value (0 points; 1× for a storage ratio).",
        "",
        f"- Operating points: every KCM system is read at the paper's ε = {eps} (C_x ≤ ε calls the large model), where "
        "KCM and MCM may call the large model at different rates. The KCM − MCM rows are also read at operating points "
        "chosen per seed and system on validation rows only and applied unchanged to test (table_operating_points): "
        "match_large (fewest validation calls reaching the large model alone's validation accuracy) and budget_<pct> "
        "(largest threshold within that share of validation calls). A point reads above or below 0 where its CI excludes "
        "0 and its paired t-test p over seeds, Benjamini–Hochberg adjusted over the row's points (reading one "
        "comparison at five points is five tests), is < 0.05; a row is operating-point dependent where some point reads a side and the "
        "readings (above / below / includes 0) are not the same at every point, inconclusive where no point reads a "
        "side. The calls claim reads match_large.",
        f"- The CI a KCM row's verdict reads is the Student t {100 * method['confidence']:g} % interval of the per-seed "
        "differences (each over the seed's whole test set; with three seeds p < 0.05 needs |t| > 4.30): it covers "
        "training, the train/val split and test-sample noise. Test-sample intervals alone treat the trained models as "
        "fixed, and a rerun whose last float bits differed (another CPU's vector kernels) retrained them enough to move "
        "the vision Few-class KCM − MCM from +2.2 to +3.8 points. Beside it: "
        f"{method['ci']}, pooling the {method['pooled']}; {method['test']}. Seed-level CIs elsewhere (forgetting: "
        "per-seed KAN − MLP; SHARe-KAN: per-head costs) are Student t intervals too. Storage ratios are exact byte "
        "counts.",
        "- Scale: the test split is fixed (its seed in the data card). Where the scale says one train/val split per "
        "seed (loop.split = per_seed), each seed also re-drew train and val from their pooled rows (the fixed "
        "split's per-class counts; retrieval: image counts), so the spread over seeds includes which rows train and validate; a fixed split's seeds "
        "vary folds and initialisation only. Neither resamples the test set. "
        "SHARe-KAN heads are trained on the vision data's features; their seeds are the heads.",
        "- Paper numbers: KCM's from the aicatnews/agifrontier transcription of its tables (papers.md §0.1, KCM-4), "
        "checked for internal consistency only; 67.85 %, 6.04 % and ≈ 6 % appear only in LLM summaries (source "
        "unverified). SHARe-KAN's from the v2 abstract, pruning's −40 points from v1.",
        *([f"- Contrary verdicts name a deviation that may explain them: {', '.join(named)}."] if named else []),
    ]


MODALITIES = ("language", "vision", "retrieval")


def load(inputs: dict[str, list[Path]]) -> dict:
    """build()'s artifacts: the three modalities' metrics, forgetting runs, SHARe sweep, cards."""
    return {**{m: read_json(inputs[f"metrics:{m}"][0]) for m in MODALITIES},
            "forgetting": [read_json(p) for p in inputs["runs:forgetting"]], "sweep": read_json(inputs["share:sweep"][0]),
            "cards": {m: read_json(inputs[f"card:{m}"][0]) for m in MODALITIES}}


def claims_over_sweep(inputs: dict[str, list[Path]], setup: dict, data: dict | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the configured run's claims, the sweep frame of kcm.report.claims_sweep): each swept
    setting's metrics (metrics/robustness/<axis>/<value>.json) in place of its modality's.
    `data`: load(inputs), where the caller has it already."""
    data = load(inputs) if data is None else data
    default = build(**data, setup=setup)
    variants = {}
    for path in inputs.get("robustness:metrics", []):
        axis, value = path.parent.name, path.stem
        variants[(axis, value)] = build(**{**data, axis.split(".")[0]: read_json(path)}, setup=setup)
    return default, claims_sweep.sweep_frame(default, variants)


def render(inputs: dict[str, list[Path]], setup: dict, outputs: dict[str, Path]) -> None:
    data = load(inputs)
    frame, sweep = claims_over_sweep(inputs, setup, data)
    frame["sweep"] = frame["claim"].map(claims_sweep.survival(sweep))
    shown = frame[list(SHOWN)].rename(columns=SHOWN)
    keys = DEVIATIONS + [k for k in named_deviations(frame) if k not in DEVIATIONS]
    method = data["language"]["comparisons"]["method"]
    markdown = markdown_table("Headline claims of KCM and SHARe-KAN against our measurements", shown,
                              notes(frame, method, method["eps"]) + [SWEEP_NOTE], keys)
    write_table(outputs, frame, markdown, digits=None)  # the CSV keeps the numeric CI columns too
