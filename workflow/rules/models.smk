# Model training. Each rule writes per-sample predictions; metrics and tables come later.

TEXT = config["baseline"]["text"]


ARTIFACTS.append(f"{RESULTS}/predictions/text_baseline.parquet")


rule train_text_baseline:
    message:
        "Small text model: TF-IDF + logistic regression on {params.fields}"
    input:
        train=LANGUAGE_DATA.output.train,
        val=LANGUAGE_DATA.output.val,
        test=LANGUAGE_DATA.output.test,
        card=LANGUAGE_DATA.output.card,
        code=code("kcm.baselines.text_tfidf"),
    output:
        f"{RESULTS}/predictions/text_baseline.parquet",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        fields=" ".join(TEXT["fields"]),
        C=TEXT["C"],
        ngram_max=TEXT["ngram_max"],
        min_df=TEXT["min_df"],
        max_features=TEXT["max_features"] or 0,
    log:
        f"{LOGS}/train_text_baseline.log",
    benchmark:
        f"{BENCH}/train_text_baseline.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm train text-baseline --data {params.data} --out {output}"
        " --fields {params.fields} --C {params.C} --ngram-max {params.ngram_max}"
        " --min-df {params.min_df} --max-features {params.max_features} > {log} 2>&1"
