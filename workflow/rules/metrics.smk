# Metrics (JSON, DVC metrics): the small text model by split, and every experiment's systems and
# routers over seeds through one entry point (`kcm metrics systems`, one JSON shape; --family
# says which metric family applies).


rule metrics_text_baseline:
    message:
        "Metrics of the small text model by split"
    input:
        predictions=rules.train_text_baseline.output[0],
        card=LANGUAGE_DATA.output.card,
        code=code("kcm.metrics", "kcm.io"),
    output:
        f"{RESULTS}/metrics/text_baseline.json",
    log:
        f"{LOGS}/metrics_text_baseline.log",
    benchmark:
        f"{BENCH}/metrics_text_baseline.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm metrics classification --predictions {input.predictions} --card {input.card}"
        " --model tfidf-logreg --out {output} > {log} 2>&1"


# Experiment -> (metric family, its seed folders, what the family reads besides the runs
# (classification: the dataset card's class names and groups; retrieval: the large model's
# description, recorded in the JSON), the rule's message).
SYSTEM_METRICS = {
    "language": (
        "classification", LANG_DIR, LANG["seeds"], {"card": LANGUAGE_DATA.output.card},
        "Language metrics over seeds {params.seeds}: mean, std, routing curves",
    ),
    "vision": (
        "classification", VIS_DIR, VIS["seeds"], {"card": VISION_DATA.output.card},
        "Vision metrics over seeds {params.seeds}: Many/Medium/Few, mean, std",
    ),
    "retrieval": (
        "retrieval", RET_DIR, RET["seeds"], {"large_meta": RETRIEVAL_LARGE.output.meta},
        "Retrieval metrics over seeds {params.seeds}: R@1/5/10 both directions, calls, routing curves",
    ),
}
METRICS_SYSTEMS_SHELL = (
    "python -m kcm metrics systems --family {params.family} --runs {params.runs}"
    " {params.extra} --out {output.metrics} --curves {output.curves} > {log} 2>&1"
)
for _name, (_family, _dir, _seeds, _extra, _message) in SYSTEM_METRICS.items():

    rule:
        name:
            f"metrics_{_name}"
        message:
            _message
        input:
            outputs=expand(f"{_dir}/seed{{seed}}/outputs.parquet", seed=_seeds),
            histories=expand(f"{_dir}/seed{{seed}}/history.json", seed=_seeds),
            **_extra,
            code=code("kcm.system_metrics"),
        output:
            metrics=f"{RESULTS}/metrics/{_name}.json",
            curves=f"{RESULTS}/metrics/{_name}_curves.csv",
        params:
            family=_family,
            seeds=_seeds,
            runs=lambda wildcards, input: " ".join(os.path.dirname(p) for p in input.outputs),
            extra=" ".join(f"--{key.replace('_', '-')} {path}" for key, path in _extra.items()),
        log:
            f"{LOGS}/metrics_{_name}.log",
        benchmark:
            f"{BENCH}/metrics_{_name}.tsv"
        conda:
            CONDA_ENV
        shell:
            METRICS_SYSTEMS_SHELL
