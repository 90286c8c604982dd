# The long-tailed vision experiment (KCM's CIFAR-100-LT table): data, cached large-model
# features and outputs, one job per seed through the closed loop, and the forgetting check.

VIS = config["vision"]
VIS_DIR = f"{RESULTS}/vision"
VISION_PARAMS = json.dumps(
    {
        "small": VIS["small"],
        "loop": VIS["loop"],
        "distill": VIS["distill"],
        "judge": VIS["judge"],
    },
    sort_keys=True,
)
VISION_JUDGES = [f"round0_{r}" for r in ("mlp", "kan", "mlp_binary", "kan_binary")] + [
    f"lite0_{system}" for system in ("mcm", "kcm")
]


rule data_mnist_lt:
    message:
        "MNIST 5k -> long-tailed train (imbalance {params.imbalance}), balanced val/test"
    input:
        code=code("data/mnist_lt.py", "data/long_tail.py", "data/image_folder.py", "data/split.py", "io.py"),
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
        code=code("data/cifar_lt.py", "data/download.py", "data/long_tail.py", "data/image_folder.py", "io.py"),
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
    log:
        f"{LOGS}/data_cifar100_lt.log",
    benchmark:
        f"{BENCH}/data_cifar100_lt.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm data cifar100-lt --out {params.out} --seed {params.seed} --imbalance {params.imbalance}"
        " --n-max {params.n_max} --val-per-class {params.val} --downloads .cache/downloads > {log} 2>&1"


VISION_DATA = rules.data_cifar100_lt if VIS["dataset"] == "cifar100_lt" else rules.data_mnist_lt
ARTIFACTS.append(VISION_DATA.output.card)
ARTIFACTS.append(f"{VIS_DIR}/lite0_features.safetensors")
ARTIFACTS.append(f"{VIS_DIR}/large_lite0.parquet")
ARTIFACTS.extend(
    expand(f"{VIS_DIR}/seed{{seed}}/{{file}}", seed=VIS["seeds"], file=["outputs.parquet", "history.json"])
)


rule features_vision:
    message:
        "EfficientNet-Lite0 (ImageNet) features of every image (cached once)"
    input:
        card=VISION_DATA.output.card,
        splits=[VISION_DATA.output.train, VISION_DATA.output.val, VISION_DATA.output.test],
        code=code("models/lite0.py", "tasks/vision_features.py", "tasks/vision.py", "io.py"),
    output:
        f"{VIS_DIR}/lite0_features.safetensors",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        batch_size=VIS["large"]["batch_size"],
    log:
        f"{LOGS}/features_vision.log",
    benchmark:
        f"{BENCH}/features_vision.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm features lite0 --data {params.data} --out {output}"
        " --batch-size {params.batch_size} > {log} 2>&1"


rule large_vision:
    message:
        "Large model: Lite0 features + head on [features, small model's hint] (out-of-fold on train)"
    input:
        card=VISION_DATA.output.card,
        features=rules.features_vision.output[0],
        code=code(
            "tasks/vision_experiment.py", "tasks/vision.py", "large_outputs.py", "rounds.py",
            "models/resnet_cifar.py", "models/image_trainer.py", "io.py",
        ),
    output:
        f"{VIS_DIR}/large_lite0.parquet",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        params=VISION_PARAMS,
        C=VIS["large"]["C"],
        folds=VIS["large"]["folds"],
        seed=config["seed"],
    log:
        f"{LOGS}/large_vision.log",
    benchmark:
        f"{BENCH}/large_vision.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm large vision --data {params.data} --features {input.features} --out {output}"
        " --params {params.params:q} --C {params.C} --folds {params.folds} --seed {params.seed} > {log} 2>&1"


rule experiment_vision:
    message:
        "Vision, seed {wildcards.seed}: small, large, +D, +KD, +MCM, +KCM and every router"
    input:
        card=VISION_DATA.output.card,
        large=rules.large_vision.output[0],
        code=code(
            "rounds.py", "collab.py", "distill.py", "judges.py", "kan.py", "metrics.py", "experiment.py",
            "models/resnet_cifar.py", "models/image_trainer.py", "tasks/vision.py", "tasks/vision_experiment.py",
            "large_outputs.py", "io.py",
        ),
    output:
        outputs=f"{VIS_DIR}/seed{{seed}}/outputs.parquet",
        history=f"{VIS_DIR}/seed{{seed}}/history.json",
        judges=expand(f"{VIS_DIR}/seed{{{{seed}}}}/judges/{{name}}.safetensors", name=VISION_JUDGES),
        judge_tests=f"{VIS_DIR}/seed{{seed}}/judges/test_inputs.safetensors",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        out_dir=lambda wildcards, output: os.path.dirname(output.outputs),
        params=VISION_PARAMS,
    log:
        f"{LOGS}/experiment_vision_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/experiment_vision_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm experiment vision --data {params.data} --large lite0={input.large}"
        " --seed {wildcards.seed} --params {params.params:q} --out-dir {params.out_dir} > {log} 2>&1"


rule metrics_vision:
    message:
        "Vision metrics over seeds {params.seeds}: Many/Medium/Few, mean, std"
    input:
        card=VISION_DATA.output.card,
        outputs=expand(f"{VIS_DIR}/seed{{seed}}/outputs.parquet", seed=VIS["seeds"]),
        histories=expand(f"{VIS_DIR}/seed{{seed}}/history.json", seed=VIS["seeds"]),
        code=code("system_metrics.py", "metrics.py", "io.py"),
    output:
        metrics=f"{RESULTS}/metrics/vision.json",
        curves=f"{RESULTS}/metrics/vision_curves.csv",
    params:
        seeds=VIS["seeds"],
        runs=lambda wildcards, input: " ".join(os.path.dirname(p) for p in input.outputs),
    log:
        f"{LOGS}/metrics_vision.log",
    benchmark:
        f"{BENCH}/metrics_vision.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm metrics collab --runs {params.runs} --card {input.card} --groups"
        " --out {output.metrics} --curves {output.curves} > {log} 2>&1"


rule forgetting_vision:
    message:
        "Forgetting, seed {wildcards.seed}: class-incremental KAN vs equal-parameter MLP"
    input:
        card=VISION_DATA.output.card,
        code=code("forgetting.py", "tasks/forgetting_experiment.py", "kan.py", "judges.py", "io.py"),
    output:
        f"{VIS_DIR}/forgetting/seed{{seed}}.json",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        params=json.dumps(VIS["forgetting"], sort_keys=True),
    log:
        f"{LOGS}/forgetting_vision_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/forgetting_vision_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm experiment forgetting --data {params.data} --seed {wildcards.seed}"
        " --params {params.params:q} --out {output} > {log} 2>&1"
