# The long-tailed vision experiment (KCM's CIFAR-100-LT table): data, cached large-model
# features and outputs, one job per seed through the closed loop, and the forgetting check.

VIS = config["vision"]
VIS_DIR = f"{RESULTS}/vision"
VISION_PARAMS = json.dumps(experiment_params(config, "vision"), sort_keys=True)
# The two large models: frozen Lite0 features + head, and BBN trained here (the paper's Table C).
VISION_LARGES = ("lite0", "bbn")
VISION_JUDGES = [f"round0_{r}" for r in ("mlp", "kan", "mlp_binary", "kan_binary")] + [
    f"{large}_{system}" for large in VISION_LARGES for system in ("mcm", "kcm")
]


ARTIFACTS.append(f"{VIS_DIR}/lite0_features.safetensors")
ARTIFACTS.append(f"{VIS_DIR}/large_lite0.parquet")
ARTIFACTS.append(f"{VIS_DIR}/large_bbn.parquet")
ARTIFACTS.extend(
    expand(f"{VIS_DIR}/seed{{seed}}/{{file}}", seed=VIS["seeds"], file=["outputs.parquet", "history.json"])
)


rule features_vision:
    message:
        "EfficientNet-Lite0 (ImageNet) features of every image (cached once)"
    input:
        card=VISION_DATA.output.card,
        splits=[VISION_DATA.output.train, VISION_DATA.output.val, VISION_DATA.output.test],
        code=code("kcm.tasks.vision.features"),
    output:
        f"{VIS_DIR}/lite0_features.safetensors",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        batch_size=VIS["large"]["batch_size"],
    priority: PRIORITY["inputs"]
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
        code=code("kcm.tasks.vision.large"),
    output:
        f"{VIS_DIR}/large_lite0.parquet",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        params=VISION_PARAMS,
        C=VIS["large"]["C"],
        folds=VIS["large"]["folds"],
        seed=config["seed"],
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/large_vision.log",
    benchmark:
        f"{BENCH}/large_vision.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm large vision --data {params.data} --features {input.features} --out {output}"
        " --params {params.params:q} --C {params.C} --folds {params.folds} --seed {params.seed} > {log} 2>&1"


rule large_vision_bbn:
    message:
        "Large model 2: BBN trained on the long-tailed train split (train rows out-of-fold) + hint-fusion head"
    input:
        card=VISION_DATA.output.card,
        code=code("kcm.tasks.vision.bbn_large"),
    output:
        outputs=f"{VIS_DIR}/large_bbn.parquet",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        params=VISION_PARAMS,
        bbn=json.dumps(VIS["bbn"], sort_keys=True),
        seed=config["seed"],
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/large_vision_bbn.log",
    benchmark:
        f"{BENCH}/large_vision_bbn.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm large bbn --data {params.data} --out {output.outputs}"
        " --params {params.params:q} --bbn {params.bbn:q} --seed {params.seed} > {log} 2>&1"


rule experiment_vision:
    message:
        "Vision, seed {wildcards.seed}: small, large, +D, +KD, +MCM, +KCM and every router"
    input:
        card=VISION_DATA.output.card,
        lite0=rules.large_vision.output[0],
        bbn=rules.large_vision_bbn.output.outputs,
        code=code("kcm.tasks.vision.experiment"),
    output:
        outputs=f"{VIS_DIR}/seed{{seed}}/outputs.parquet",
        history=f"{VIS_DIR}/seed{{seed}}/history.json",
        judges=expand(f"{VIS_DIR}/seed{{{{seed}}}}/judges/{{name}}.safetensors", name=VISION_JUDGES),
        judge_tests=f"{VIS_DIR}/seed{{seed}}/judges/test_inputs.safetensors",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        out_dir=lambda wildcards, output: os.path.dirname(output.outputs),
        params=VISION_PARAMS,
        larges=large_args(*VISION_LARGES),
    priority: PRIORITY["long"]
    log:
        f"{LOGS}/experiment_vision_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/experiment_vision_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm experiment vision --data {params.data} --large {params.larges}"
        " --seed {wildcards.seed} --params {params.params:q} --out-dir {params.out_dir} > {log} 2>&1"


rule forgetting_vision:
    message:
        "Forgetting, seed {wildcards.seed}: class-incremental KAN vs equal-parameter MLP"
    input:
        card=VISION_DATA.output.card,
        code=code("kcm.tasks.forgetting.experiment"),
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
