# The robustness sweep (config robustness.axes, kcm.config.robustness_variants): every setting
# that differs from the configured one runs, per seed, through its modality's experiment rule
# with that one key changed (the cached large-model outputs and features are the main run's),
# then through its metrics rule. The configured value of an axis is the main run itself.
# table_robustness, fig_robustness and table_claims read the metrics (render.smk).

ROBUST_DIR = f"{RESULTS}/robustness"
ROBUST_SEEDS = {"language": LANG["seeds"], "vision": VIS["seeds"], "retrieval": RET["seeds"]}
# (axis, value folder) -> the experiment's --params JSON with that one key changed.
ROBUST_PARAMS = {
    (v.key, v.slug): json.dumps(experiment_params(with_value(config, v.key, v.value), v.modality), sort_keys=True)
    for v in ROBUSTNESS
    if not v.default
}
ROBUST_METRICS = [f"{RESULTS}/metrics/{v.folder}.json" for v in ROBUSTNESS if not v.default]
ARTIFACTS.extend(
    f"{RESULTS}/{v.folder}/seed{seed}/{file}"
    for v in ROBUSTNESS
    if not v.default
    for seed in ROBUST_SEEDS[v.modality]
    for file in ("outputs.parquet", "history.json")
)


wildcard_constraints:
    key=r"[a-z_]+\.[a-z_]+",
    value=r"[A-Za-z0-9._-]+",


# One experiment rule and one metrics rule per modality, each the main one with other paths
# and the changed parameters (`use rule`: the command is defined once).
use rule experiment_language as robust_experiment_language with:
    message:
        "Robustness, language.{wildcards.key} = {wildcards.value}, seed {wildcards.seed}: the language experiment"
    output:
        outputs=f"{ROBUST_DIR}/language.{{key}}/{{value}}/seed{{seed}}/outputs.parquet",
        history=f"{ROBUST_DIR}/language.{{key}}/{{value}}/seed{{seed}}/history.json",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        out_dir=lambda wildcards, output: os.path.dirname(output.outputs),
        params=robust_params("language"),
    log:
        f"{LOGS}/robustness/language.{{key}}/{{value}}/experiment_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/robustness/language.{{key}}/{{value}}/experiment_seed{{seed}}.tsv"


# The vision sweep reads the Lite0 large model only (the claims it checks are Lite0's; BBN would
# double every setting's cost).
use rule experiment_vision as robust_experiment_vision with:
    message:
        "Robustness, vision.{wildcards.key} = {wildcards.value}, seed {wildcards.seed}: the vision experiment (Lite0)"
    input:
        card=VISION_DATA.output.card,
        lite0=rules.large_vision.output[0],
        code=code("kcm.tasks.vision.experiment"),
    output:
        outputs=f"{ROBUST_DIR}/vision.{{key}}/{{value}}/seed{{seed}}/outputs.parquet",
        history=f"{ROBUST_DIR}/vision.{{key}}/{{value}}/seed{{seed}}/history.json",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        out_dir=lambda wildcards, output: os.path.dirname(output.outputs),
        params=robust_params("vision"),
        larges=large_args(*VISION_LARGES),
    log:
        f"{LOGS}/robustness/vision.{{key}}/{{value}}/experiment_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/robustness/vision.{{key}}/{{value}}/experiment_seed{{seed}}.tsv"


use rule experiment_retrieval as robust_experiment_retrieval with:
    message:
        "Robustness, retrieval.{wildcards.key} = {wildcards.value}, seed {wildcards.seed}: the retrieval experiment"
    output:
        outputs=f"{ROBUST_DIR}/retrieval.{{key}}/{{value}}/seed{{seed}}/outputs.parquet",
        history=f"{ROBUST_DIR}/retrieval.{{key}}/{{value}}/seed{{seed}}/history.json",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        out_dir=lambda wildcards, output: os.path.dirname(output.outputs),
        params=robust_params("retrieval"),
    log:
        f"{LOGS}/robustness/retrieval.{{key}}/{{value}}/experiment_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/robustness/retrieval.{{key}}/{{value}}/experiment_seed{{seed}}.tsv"


# Metrics of each swept setting over its seeds (the command of metrics.smk).
for _name, (_family, _dir, _seeds, _extra, _message) in SYSTEM_METRICS.items():

    rule:
        name:
            f"robust_metrics_{_name}"
        message:
            f"Robustness, {_name}.{{wildcards.key}} = {{wildcards.value}}: metrics over seeds {{params.seeds}}"
        input:
            outputs=robust_runs(_name, "outputs.parquet"),
            histories=robust_runs(_name, "history.json"),
            **_extra,
            code=code("kcm.system_metrics"),
        output:
            metrics=f"{RESULTS}/metrics/robustness/{_name}.{{key}}/{{value}}.json",
            curves=f"{RESULTS}/metrics/robustness/{_name}.{{key}}/{{value}}_curves.csv",
        params:
            family=_family,
            seeds=ROBUST_SEEDS[_name],
            runs=lambda wildcards, input: " ".join(os.path.dirname(p) for p in input.outputs),
            extra=" ".join(f"--{key.replace('_', '-')} {path}" for key, path in _extra.items()),
        log:
            f"{LOGS}/robustness/{_name}.{{key}}/{{value}}/metrics.log",
        benchmark:
            f"{BENCH}/robustness/{_name}.{{key}}/{{value}}/metrics.tsv"
        conda:
            CONDA_ENV
        shell:
            METRICS_SYSTEMS_SHELL
