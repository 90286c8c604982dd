"""Footer lines shared by the language tables: what was run, with which settings."""

from __future__ import annotations

from kcm.report.common import (
    bootstrap,
    comparison_of,
    paired,
    paired_test_note,
    split_mode,
)
from kcm.stats import paired_difference

EMBEDDED = {"dataset": "bbc", "large_a": {"kind": "minilm_head"}, "large_b": {"kind": "minilm_zero_shot"}}


def describe(setup: dict, large: str) -> str:
    """One line on large model `large` ("a" or "b") as the run configured it."""
    spec = setup.get(f"large_{large}", EMBEDDED[f"large_{large}"])
    kind = spec["kind"]
    if kind == "minilm_head":
        return ("large A: frozen all-MiniLM-L6-v2 + logistic-regression head trained on plain and "
                "small-hinted texts (stands in for the paper's fine-tuned BERT)")
    if kind == "minilm_zero_shot":
        return ("large B: all-MiniLM-L6-v2 zero-shot, cosine to label-description prompts, no training "
                "(stands in for the paper's ChatGPT)")
    if kind == "finetune":
        return (f"large A: {spec['model_id']} fine-tuned on plain and small-hinted texts, out-of-fold "
                "on train (the paper's BERT)")
    if kind == "llm":
        return (f"large B: {spec['model_id']} zero-shot, each class scored by the log-probability of "
                "its name (stands in for the paper's ChatGPT)")
    return f"large B: {spec.get('endpoint_model')} behind an OpenAI-compatible endpoint, zero-shot"


def deviations(setup: dict) -> list[str]:
    setup = {**EMBEDDED, **setup}
    keys = ["language.dataset", "language.dedup"] if setup["dataset"] == "bbc" else ["language.dataset_hf"]
    keys.append("language.small_model")
    if setup["dataset"] == "bbc":
        keys.append("language.input")
    embedded = setup["large_a"]["kind"] == "minilm_head" or setup["large_b"]["kind"] == "minilm_zero_shot"
    keys.append("language.large" if embedded else "language.large_paper")
    return keys + ["language.hint", "language.judge_input", "language.seeds"]


def footer(metrics: dict, card: dict, setup: dict, large: str | None = None) -> list[str]:
    params = metrics["params"]
    loop, distill, judge = params["loop"], params["distill"], params["judge"]
    sizes = metrics["judges"]
    n_test = next(iter(metrics["large"].values()))["system:small"]["n"]
    lines = [
        f"- Data: {card['source']['name']}, test split n = {n_test}, "
        f"split seed {card['seed']}; input fields {params['tfidf']['fields']}.",
        "- Small model: TF-IDF + softmax regression (C = "
        f"{params['tfidf']['C']}), retrained by L-BFGS in every distillation round.",
    ]
    for name in [large] if large else sorted(metrics["large"]):
        lines.append(f"- {describe(setup, name)}.")
    lines += [
        f"- Judges (fed a {loop['svd_dim']}-d SVD of the TF-IDF row + the small model's probabilities): "
        f"KAN width {sizes['kan']['width']} (grid {judge['grid_size']}, k {judge['k']}), "
        f"{sizes['kan']['n_params']} parameters; MLP width {sizes['mlp']['width']}, {sizes['mlp']['n_params']} parameters.",
        f"- eps = {loop['eps']} (C_x <= eps calls the large model); rounds = {loop['rounds']}; "
        f"{loop['folds']}-fold out-of-fold outputs on train; lambda_ls = {distill['lambda_ls']}, "
        f"lambda_js = {distill['lambda_js']}, T = {distill['temperature']}.",
        f"- Mean ± sample std over seeds {metrics['seeds']} (the seed sets "
        + ("the train/val partition, folds, judge initialisation and the random router; test split"
           if split_mode(params) == "per_seed" else "folds, judge initialisation and the random router; data split")
        + " and large models are fixed).",
    ]
    return lines


KCM_VS_MCM = [("accuracy", "accuracy"), ("Average", "mean_class_accuracy"), ("macro-F1", "macro_f1")]


def kcm_vs_mcm(metrics: dict, large: str) -> list[str]:
    """Footer lines: KCM − MCM on each system metric, paired by seed, with its t-test."""
    entries = metrics["large"][large]
    lines = []
    for name, key in KCM_VS_MCM:
        diff = paired_difference(entries["system:kcm"][key], entries["system:mcm"][key])
        comparison = comparison_of(metrics, large, "kcm_vs_mcm") if key == "accuracy" else None
        extra = "" if comparison is None else f"; {bootstrap(comparison)}"
        lines.append(f"- KCM − MCM {name}: {paired(diff)}; per seed "
                     f"{', '.join('–' if v is None else f'{100 * v:+.1f}' for v in diff['values'])}{extra}.")
    return [*lines, paired_test_note(len(metrics["seeds"]))]
