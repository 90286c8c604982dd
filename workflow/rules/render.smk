# Metrics (JSON, DVC metrics) and every table/figure, each by its own named rule.


rule metrics_text_baseline:
    message:
        "Metrics of the small text model by split"
    input:
        predictions=rules.train_text_baseline.output[0],
        card=rules.data_bbc.output.card,
        code=code("metrics.py", "io.py"),
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


TARGETS["table_text_baseline"] = [
    f"{RESULTS}/tables/table_text_baseline.md",
    f"{RESULTS}/tables/table_text_baseline.csv",
]


rule table_text_baseline:
    message:
        "Table: small text model alone, per-class accuracy (the APD tables' shape)"
    input:
        metrics=rules.metrics_text_baseline.output[0],
        card=rules.data_bbc.output.card,
        code=code("report/table_text_baseline.py", "report/common.py", "report/deviations.py"),
    output:
        md=report(
            TARGETS["table_text_baseline"][0],
            caption="../report/table_text_baseline.rst",
            category="Language",
        ),
        csv=TARGETS["table_text_baseline"][1],
    params:
        model=json.dumps(config["baseline"]["text"], sort_keys=True),
    log:
        f"{LOGS}/table_text_baseline.log",
    benchmark:
        f"{BENCH}/table_text_baseline.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render table_text_baseline --metrics {input.metrics} --card {input.card}"
        " --params {params.model:q} --md {output.md} --csv {output.csv} > {log} 2>&1"


TARGETS["fig_text_baseline_confusion"] = [f"{RESULTS}/figures/fig_text_baseline_confusion.png"]


rule fig_text_baseline_confusion:
    message:
        "Figure: confusion matrix of the small text model (test split)"
    input:
        predictions=rules.train_text_baseline.output[0],
        card=rules.data_bbc.output.card,
        code=code("report/fig_text_baseline_confusion.py"),
    output:
        report(
            TARGETS["fig_text_baseline_confusion"][0],
            caption="../report/fig_text_baseline_confusion.rst",
            category="Language",
        ),
    log:
        f"{LOGS}/fig_text_baseline_confusion.log",
    benchmark:
        f"{BENCH}/fig_text_baseline_confusion.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render fig_text_baseline_confusion --predictions {input.predictions}"
        " --card {input.card} --png {output} > {log} 2>&1"
