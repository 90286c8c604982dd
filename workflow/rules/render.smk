# Every table, figure and macro file, one rule each, generated from the report registry
# (kcm.report.registry.TARGETS: module, input artifacts, setup block, caption, group, message).
import shlex

from kcm.report.registry import TARGETS as REPORT_TARGETS

# Artifact key (the registry's inputs) -> the files the rules above write.
ARTIFACT_PATHS = {
    "predictions:text_baseline": [rules.train_text_baseline.output[0]],
    "metrics:text_baseline": [rules.metrics_text_baseline.output[0]],
    "card:language": [LANGUAGE_DATA.output.card],
    "card:vision": [VISION_DATA.output.card],
    "card:retrieval": [RETRIEVAL_DATA.output.card],
    "metrics:language": [rules.metrics_language.output.metrics],
    "curves:language": [rules.metrics_language.output.curves],
    "metrics:vision": [rules.metrics_vision.output.metrics],
    "runs:forgetting": expand(rules.forgetting_vision.output[0], seed=VIS["seeds"]),
    "metrics:retrieval": [rules.metrics_retrieval.output.metrics],
    "curves:retrieval": [rules.metrics_retrieval.output.curves],
    "share:sweep": [rules.share_sweep.output[0]],
    "share:judges": [rules.share_judges.output[0]],
    "share:edge_facts": [rules.share_edge.output.facts],
    "share:edge_runtime": [rules.share_edge.output.runtime],
    "share:edge_judges_facts": [rules.share_edge_judges.output.facts],
    "share:edge_judges_runtime": [rules.share_edge_judges.output.runtime],
    "robustness:metrics": ROBUST_METRICS,
}

# Setup blocks: the config facts a table's footer and reference gate need (JSON).
SETUP = {
    # the small text model's parameters
    "text_baseline": config["baseline"]["text"],
    # which dataset and large models ran (and so which deviations apply)
    "language": {
        "dataset": LANG["dataset"],
        "large_a": {"kind": LARGE_A["kind"], "model_id": LARGE_A["finetune"]["model_id"]},
        "large_b": {
            "kind": LARGE_B["kind"],
            "model_id": LARGE_B["llm"]["model_id"],
            "endpoint_model": LARGE_B["endpoint"]["model"],
        },
    },
    "vision": {"small": VIS["small"], "bbn": VIS["bbn"]},  # the small model and BBN (names, the gates)
    "retrieval": {"dataset": RET["dataset"], "large": RET["large"]},
    # the run's profile, which each claim names, and the robustness sweep's axes
    "claims": {
        "run": config["run"],
        "robustness": [
            {"key": a["key"], "values": [value_slug(v) for v in a["values"]], "configured": value_slug(get_key(config, a["key"]))}
            for a in config["robustness"]["axes"]
        ],
    },
}

# Named targets: target name -> output files. `rule all` builds every entry; the README lists them.
TARGETS = {name: list(target.outputs(RESULTS).values()) for name, target in REPORT_TARGETS.items()}


# Loop values only in input/output/params: Snakemake evaluates `shell:` again when the job runs,
# after the loop has ended.
for _target in REPORT_TARGETS.values():
    _outputs = _target.outputs(RESULTS)

    rule:
        name:
            _target.name
        message:
            _target.message
        input:
            **{key.replace(":", "_"): ARTIFACT_PATHS[key] for key in _target.inputs},
            code=code(_target.module, "kcm.report.registry"),  # the render verb runs both
        output:
            **with_report(_target, _outputs),
        params:
            name=_target.name,
            inputs=" ".join(f"--input {key}={path}" for key in _target.inputs for path in ARTIFACT_PATHS[key]),
            setup=f"--setup {shlex.quote(json.dumps(SETUP[_target.setup], sort_keys=True))}" if _target.setup else "",
            outputs=" ".join(f"--output {kind}={path}" for kind, path in _outputs.items()),
        log:
            f"{LOGS}/{_target.name}.log",
        benchmark:
            f"{BENCH}/{_target.name}.tsv"
        conda:
            CONDA_ENV
        shell:
            "python -m kcm render {params.name} {params.inputs} {params.setup} {params.outputs} > {log} 2>&1"
