# Metrics (JSON, DVC metrics) and every table/figure, each by its own named rule.


rule metrics_text_baseline:
    message:
        "Metrics of the small text model by split"
    input:
        predictions=rules.train_text_baseline.output[0],
        card=LANGUAGE_DATA.output.card,
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
        card=LANGUAGE_DATA.output.card,
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
        card=LANGUAGE_DATA.output.card,
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


LANGUAGE_TABLES = {
    "table_language": "Table: language ladder with large A (the paper's BERT table)",
    "table_language_prompted": "Table: language ladder with large B, prompted (the paper's ChatGPT table)",
    "table_calls": "Table: large-model calls, CPT/AUC/APGR per router (language)",
}
for _name, _message in LANGUAGE_TABLES.items():
    TARGETS[_name] = [f"{RESULTS}/tables/{_name}.md", f"{RESULTS}/tables/{_name}.csv"]

    rule:
        name:
            _name
        message:
            _message
        input:
            metrics=rules.metrics_language.output.metrics,
            card=LANGUAGE_DATA.output.card,
            code=code(
                f"report/{'table_language' if _name.startswith('table_language') else _name}.py",
                "report/language_context.py", "report/common.py", "report/deviations.py",
            ),
        output:
            md=report(TARGETS[_name][0], caption=f"../report/{_name}.rst", category="Language"),
            csv=TARGETS[_name][1],
        params:
            name=_name,
            setup=LANGUAGE_SETUP,
        log:
            f"{LOGS}/{_name}.log",
        benchmark:
            f"{BENCH}/{_name}.tsv"
        conda:
            CONDA_ENV
        shell:
            "python -m kcm render {params.name} --metrics {input.metrics} --card {input.card}"
            " --setup {params.setup:q} --md {output.md} --csv {output.csv} > {log} 2>&1"


TARGETS["fig_routing_language"] = [f"{RESULTS}/figures/fig_routing_language.png"]


rule fig_routing_language:
    message:
        "Figure: accuracy vs % large-model calls, every router, oracle and random (language)"
    input:
        metrics=rules.metrics_language.output.metrics,
        curves=rules.metrics_language.output.curves,
        card=LANGUAGE_DATA.output.card,
        code=code("report/fig_routing_language.py"),
    output:
        report(
            TARGETS["fig_routing_language"][0],
            caption="../report/fig_routing_language.rst",
            category="Language",
        ),
    log:
        f"{LOGS}/fig_routing_language.log",
    benchmark:
        f"{BENCH}/fig_routing_language.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render fig_routing_language --metrics {input.metrics} --curves {input.curves}"
        " --card {input.card} --png {output} > {log} 2>&1"


# Long-tailed vision: what the tables say about the small model (for names and the gate).
VISION_SETUP = json.dumps({"small": config["vision"]["small"]}, sort_keys=True)
TARGETS["table_vision_lt"] = [f"{RESULTS}/tables/table_vision_lt.md", f"{RESULTS}/tables/table_vision_lt.csv"]


rule table_vision_lt:
    message:
        "Table: long-tailed vision, Many/Medium/Few/Overall and large-model calls (the CIFAR-100-LT table)"
    input:
        metrics=rules.metrics_vision.output.metrics,
        card=VISION_DATA.output.card,
        code=code("report/table_vision_lt.py", "report/common.py", "report/deviations.py", "system_metrics.py"),
    output:
        md=report(TARGETS["table_vision_lt"][0], caption="../report/table_vision_lt.rst", category="Vision"),
        csv=TARGETS["table_vision_lt"][1],
    params:
        setup=VISION_SETUP,
    log:
        f"{LOGS}/table_vision_lt.log",
    benchmark:
        f"{BENCH}/table_vision_lt.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render table_vision_lt --metrics {input.metrics} --card {input.card}"
        " --setup {params.setup:q} --md {output.md} --csv {output.csv} > {log} 2>&1"


TARGETS["fig_vision_per_class"] = [f"{RESULTS}/figures/fig_vision_per_class.png"]


rule fig_vision_per_class:
    message:
        "Figure: per-class accuracy against training count, per system (vision)"
    input:
        metrics=rules.metrics_vision.output.metrics,
        card=VISION_DATA.output.card,
        code=code("report/fig_vision_per_class.py"),
    output:
        report(TARGETS["fig_vision_per_class"][0], caption="../report/fig_vision_per_class.rst", category="Vision"),
    log:
        f"{LOGS}/fig_vision_per_class.log",
    benchmark:
        f"{BENCH}/fig_vision_per_class.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render fig_vision_per_class --metrics {input.metrics} --card {input.card}"
        " --png {output} > {log} 2>&1"


TARGETS["table_forgetting"] = [f"{RESULTS}/tables/table_forgetting.md", f"{RESULTS}/tables/table_forgetting.csv"]


rule table_forgetting:
    message:
        "Table: class-incremental forgetting, KAN vs equal-parameter MLP"
    input:
        runs=expand(f"{VIS_DIR}/forgetting/seed{{seed}}.json", seed=config["vision"]["seeds"]),
        card=VISION_DATA.output.card,
        code=code("report/table_forgetting.py", "report/common.py", "report/deviations.py"),
    output:
        md=report(TARGETS["table_forgetting"][0], caption="../report/table_forgetting.rst", category="Vision"),
        csv=TARGETS["table_forgetting"][1],
    log:
        f"{LOGS}/table_forgetting.log",
    benchmark:
        f"{BENCH}/table_forgetting.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render table_forgetting --runs {input.runs} --card {input.card}"
        " --md {output.md} --csv {output.csv} > {log} 2>&1"


# Image–text retrieval: the config facts the table's footer and gate need.
RETRIEVAL_SETUP = json.dumps({"dataset": config["retrieval"]["dataset"], "large": config["retrieval"]["large"]}, sort_keys=True)
TARGETS["table_retrieval"] = [f"{RESULTS}/tables/table_retrieval.md", f"{RESULTS}/tables/table_retrieval.csv"]


rule table_retrieval:
    message:
        "Table: image–text retrieval, I2T/T2I R@1/5/10 and large-model calls (the MSCOCO table)"
    input:
        metrics=rules.metrics_retrieval.output.metrics,
        card=RETRIEVAL_DATA.output.card,
        code=code("report/table_retrieval.py", "report/common.py", "report/deviations.py", "reference_gates.py"),
    output:
        md=report(TARGETS["table_retrieval"][0], caption="../report/table_retrieval.rst", category="Retrieval"),
        csv=TARGETS["table_retrieval"][1],
    params:
        setup=RETRIEVAL_SETUP,
    log:
        f"{LOGS}/table_retrieval.log",
    benchmark:
        f"{BENCH}/table_retrieval.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render table_retrieval --metrics {input.metrics} --card {input.card}"
        " --setup {params.setup:q} --md {output.md} --csv {output.csv} > {log} 2>&1"


TARGETS["fig_routing_retrieval"] = [f"{RESULTS}/figures/fig_routing_retrieval.png"]


rule fig_routing_retrieval:
    message:
        "Figure: R@1 vs % large-model calls per router, both directions (retrieval)"
    input:
        metrics=rules.metrics_retrieval.output.metrics,
        curves=rules.metrics_retrieval.output.curves,
        card=RETRIEVAL_DATA.output.card,
        code=code("report/fig_routing_retrieval.py", "report/fig_routing_language.py"),
    output:
        report(TARGETS["fig_routing_retrieval"][0], caption="../report/fig_routing_retrieval.rst", category="Retrieval"),
    log:
        f"{LOGS}/fig_routing_retrieval.log",
    benchmark:
        f"{BENCH}/fig_routing_retrieval.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render fig_routing_retrieval --metrics {input.metrics} --curves {input.curves}"
        " --card {input.card} --png {output} > {log} 2>&1"


# SHARe-KAN.
TARGETS["table_compression"] = [f"{RESULTS}/tables/table_compression.md", f"{RESULTS}/tables/table_compression.csv"]
TARGETS["table_heads"] = [f"{RESULTS}/tables/table_heads.md", f"{RESULTS}/tables/table_heads.csv"]
TARGETS["table_edge"] = [f"{RESULTS}/tables/table_edge.md", f"{RESULTS}/tables/table_edge.csv"]
TARGETS["fig_compression"] = [f"{RESULTS}/figures/fig_compression.png"]


rule table_compression:
    message:
        "Table: SHARe-KAN codebook sweep, FP32 / Int8, and the pruning baseline on the dense KAN head"
    input:
        sweep=rules.share_sweep.output[0],
        code=code("report/share_tables.py", "report/common.py", "report/deviations.py"),
    output:
        md=report(TARGETS["table_compression"][0], caption="../report/table_compression.rst", category="SHARe-KAN"),
        csv=TARGETS["table_compression"][1],
    log:
        f"{LOGS}/table_compression.log",
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render table_compression --metrics {input.sweep} --md {output.md} --csv {output.csv} > {log} 2>&1"


rule table_heads:
    message:
        "Table: SHARe-KAN on every KAN judge, and N heads sharing one codebook"
    input:
        judges=rules.share_judges.output[0],
        sweep=rules.share_sweep.output[0],
        code=code("report/share_tables.py", "report/common.py", "report/deviations.py"),
    output:
        md=report(TARGETS["table_heads"][0], caption="../report/table_heads.rst", category="SHARe-KAN"),
        csv=TARGETS["table_heads"][1],
    log:
        f"{LOGS}/table_heads.log",
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render table_heads --runs {input.judges} --metrics {input.sweep}"
        " --md {output.md} --csv {output.csv} > {log} 2>&1"


rule table_edge:
    message:
        "Table: ExecuTorch .pte size, planned arena, RSS and latency of dense vs compressed heads"
    input:
        facts=rules.share_edge.output.facts,
        runtime=rules.share_edge.output.runtime,
        code=code("report/share_tables.py", "report/common.py", "report/deviations.py"),
    output:
        md=report(TARGETS["table_edge"][0], caption="../report/table_edge.rst", category="SHARe-KAN"),
        csv=TARGETS["table_edge"][1],
    log:
        f"{LOGS}/table_edge.log",
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render table_edge --metrics {input.facts} --runs {input.runtime}"
        " --md {output.md} --csv {output.csv} > {log} 2>&1"


rule fig_compression:
    message:
        "Figure: accuracy against storage, every codebook size and precision (SHARe-KAN)"
    input:
        sweep=rules.share_sweep.output[0],
        code=code("report/fig_compression.py"),
    output:
        report(TARGETS["fig_compression"][0], caption="../report/fig_compression.rst", category="SHARe-KAN"),
    log:
        f"{LOGS}/fig_compression.log",
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render fig_compression --metrics {input.sweep} --png {output} > {log} 2>&1"


# Every headline claim of both papers beside our measurement (artifacts only).
TARGETS["table_claims"] = [f"{RESULTS}/tables/table_claims.md", f"{RESULTS}/tables/table_claims.csv"]


rule table_claims:
    message:
        "Table: the papers' headline claims against our measurements, with verdicts"
    input:
        language=rules.metrics_language.output.metrics,
        vision=rules.metrics_vision.output.metrics,
        retrieval=rules.metrics_retrieval.output.metrics,
        compression=rules.share_sweep.output[0],
        forgetting=expand(f"{VIS_DIR}/forgetting/seed{{seed}}.json", seed=config["vision"]["seeds"]),
        code=code("report/table_claims.py", "report/common.py", "report/deviations.py", "system_metrics.py"),
    output:
        md=report(TARGETS["table_claims"][0], caption="../report/table_claims.rst", category="Claims"),
        csv=TARGETS["table_claims"][1],
    log:
        f"{LOGS}/table_claims.log",
    conda:
        CONDA_ENV
    shell:
        "python -m kcm render table_claims --runs {input.language} {input.vision} {input.retrieval}"
        " {input.compression} {input.forgetting} --md {output.md} --csv {output.csv} > {log} 2>&1"
