"""Every table, figure and macro file the workflow renders: one entry each, in README order.

The registry serves the `kcm render` verb, the generated render rules (inputs, outputs,
message, report caption and category) and the tests. Adding a table means its module under
kcm.report (with `render(inputs, setup, outputs)`), one entry here and its caption file in
workflow/report/.

Input keys name artifacts; the rules resolve them to paths:
predictions:text_baseline, metrics:text_baseline, card:language, card:vision, card:retrieval,
metrics:language, curves:language, metrics:vision, runs:forgetting (one JSON per seed),
metrics:retrieval, curves:retrieval, share:sweep, share:judges, share:edge_facts,
share:edge_runtime, share:edge_judges_facts, share:edge_judges_runtime, robustness:metrics
(one JSON per swept setting, metrics/robustness/<axis>/<value>.json; none without axes). A key may resolve to several paths
(runs:forgetting); a module reads a one-path key as `inputs[key][0]`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

KINDS = {"table": ("md", "csv", "tex"), "figure": ("png", "pdf"), "macros": ("tex",)}
FOLDERS = {"table": "tables", "figure": "figures", "macros": "macros"}


@dataclass(frozen=True)
class Target:
    name: str                # target and rule name, e.g. "table_language"
    module: str              # "kcm.report.table_language": defines render(inputs, setup, outputs)
    kind: str                # "table" -> md, csv, tex | "figure" -> png, pdf | "macros" -> tex
    group: str               # report category: Language | Vision | Retrieval | SHARe-KAN | Claims
    inputs: tuple[str, ...]  # artifact keys (module docstring)
    setup: str | None        # config-derived setup block: text_baseline | language | vision | retrieval | claims
    caption: str             # file under workflow/report/ ("" for macros: not in the HTML report)
    message: str             # the rule's message

    def outputs(self, results: str) -> dict[str, str]:
        """Output kind -> path under the run's results folder."""
        return {ext: f"{results}/{FOLDERS[self.kind]}/{self.name}.{ext}" for ext in KINDS[self.kind]}


def _table(name: str, group: str, inputs: tuple[str, ...], setup: str | None, message: str) -> Target:
    return Target(name, f"kcm.report.{name}", "table", group, inputs, setup, f"{name}.rst", message)


def _figure(name: str, group: str, inputs: tuple[str, ...], message: str, setup: str | None = None) -> Target:
    return Target(name, f"kcm.report.{name}", "figure", group, inputs, setup, f"{name}.rst", message)


def _macros(name: str, group: str, inputs: tuple[str, ...], message: str) -> Target:
    return Target(name, f"kcm.report.{name}", "macros", group, inputs, None, "", message)


LANGUAGE_METRICS = ("metrics:language", "card:language")
CLAIMS_INPUTS = ("metrics:language", "metrics:vision", "metrics:retrieval", "share:sweep", "runs:forgetting",
                 "card:language", "card:vision", "card:retrieval")
# Keys that may resolve to no path: a sweep with no axes has no robustness metrics.
OPTIONAL = {"robustness:metrics"}

_ALL = [
    _table("table_text_baseline", "Language", ("metrics:text_baseline", "card:language"), "text_baseline",
           "Table: small text model alone, per-class accuracy (the APD tables' shape)"),
    _figure("fig_text_baseline_confusion", "Language", ("predictions:text_baseline", "card:language"),
            "Figure: confusion matrix of the small text model (test split)"),
    _table("table_language", "Language", LANGUAGE_METRICS, "language",
           "Table: language ladder with large A (the paper's BERT table)"),
    _table("table_language_prompted", "Language", LANGUAGE_METRICS, "language",
           "Table: language ladder with large B, prompted (the paper's ChatGPT table)"),
    _table("table_calls", "Language", LANGUAGE_METRICS, "language",
           "Table: large-model calls, CPT/AUC/APGR per router (language)"),
    _figure("fig_routing_language", "Language", ("metrics:language", "curves:language"),
            "Figure: accuracy vs % large-model calls, every router, oracle and random (language)"),
    _table("table_vision_lt", "Vision", ("metrics:vision", "card:vision"), "vision",
           "Table: long-tailed vision, Many/Medium/Few/Overall and large-model calls (the CIFAR-100-LT table)"),
    _figure("fig_vision_per_class", "Vision", ("metrics:vision", "card:vision"),
            "Figure: per-class accuracy against training count, per system (vision)"),
    _table("table_forgetting", "Vision", ("runs:forgetting", "card:vision"), None,
           "Table: class-incremental forgetting, KAN vs equal-parameter MLP"),
    _table("table_retrieval", "Retrieval", ("metrics:retrieval", "card:retrieval"), "retrieval",
           "Table: image–text retrieval, I2T/T2I R@1/5/10 and large-model calls (the MSCOCO table)"),
    _figure("fig_routing_retrieval", "Retrieval", ("metrics:retrieval", "curves:retrieval"),
            "Figure: R@1 vs % large-model calls per router, both directions (retrieval)"),
    _table("table_compression", "SHARe-KAN", ("share:sweep",), None,
           "Table: SHARe-KAN codebook sweep, FP32 / Int8, and the pruning baseline on the dense KAN head"),
    _table("table_heads", "SHARe-KAN", ("share:judges", "share:sweep"), None,
           "Table: SHARe-KAN on every KAN judge, and N heads sharing one codebook"),
    _table("table_edge", "SHARe-KAN", ("share:edge_facts", "share:edge_runtime", "share:edge_judges_facts",
                                       "share:edge_judges_runtime"), None,
           "Table: ExecuTorch .pte size, planned arena, RSS and latency of dense vs compressed heads"),
    _figure("fig_compression", "SHARe-KAN", ("share:sweep",),
            "Figure: accuracy against storage, every codebook size and precision (SHARe-KAN)"),
    _table("table_operating_points", "Claims", ("metrics:language", "metrics:vision", "metrics:retrieval"), None,
           "Table: KCM vs MCM and KAN vs MLP routers at operating points chosen on validation (matched calls)"),
    _table("table_claims", "Claims", CLAIMS_INPUTS + ("robustness:metrics",), "claims",
           "Table: the papers' headline claims against our measurements, with CIs and verdicts"),
    _table("table_robustness", "Claims", CLAIMS_INPUTS + ("robustness:metrics",), "claims",
           "Table: each claim's outcome over the robustness sweep (best, worst, robust or fragile)"),
    _figure("fig_robustness", "Claims", CLAIMS_INPUTS + ("robustness:metrics",),
            "Figure: tornado plot per claim, the estimate and CI of every swept setting", setup="claims"),
    _macros("macros_language", "Language", ("metrics:language",),
            "LaTeX macros: headline numbers of the language experiment"),
    _macros("macros_vision", "Vision", ("metrics:vision",),
            "LaTeX macros: headline numbers of the vision experiment"),
    _macros("macros_retrieval", "Retrieval", ("metrics:retrieval",),
            "LaTeX macros: headline numbers of the retrieval experiment"),
    _macros("macros_share", "SHARe-KAN", ("share:sweep",),
            "LaTeX macros: headline numbers of the SHARe-KAN sweep"),
]
TARGETS: dict[str, Target] = {t.name: t for t in _ALL}


def render(name: str, inputs: dict[str, list[Path]], setup: dict | None, outputs: dict[str, Path]) -> None:
    """Render target `name`: check its inputs and outputs against the entry, then call its module."""
    target = TARGETS[name]
    missing = [k for k in target.inputs if not inputs.get(k) and k not in OPTIONAL]
    unknown = sorted(set(inputs) - set(target.inputs))
    if missing or unknown:
        raise ValueError(f"{name} reads {list(target.inputs)}; missing {missing}, unknown {unknown}")
    if sorted(outputs) != sorted(KINDS[target.kind]):
        raise ValueError(f"{name} writes {list(KINDS[target.kind])}, got {sorted(outputs)}")
    if target.setup is not None and setup is None:
        raise ValueError(f"{name} needs the {target.setup!r} setup block")
    module = importlib.import_module(target.module)
    module.render({k: [Path(p) for p in v] for k, v in inputs.items()}, setup,
                  {k: Path(v) for k, v in outputs.items()})
