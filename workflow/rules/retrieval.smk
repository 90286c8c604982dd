# Image–text retrieval (KCM's MSCOCO table): pairs, cached tower features, the large CLIP's
# embeddings (custom open_clip model trained here, or a pretrained open_clip zero-shot), one job
# per seed through the closed loop (metrics: metrics.smk).

RET = config["retrieval"]
RET_DIR = f"{RESULTS}/retrieval"
RETRIEVAL_PARAMS = json.dumps(experiment_params(config, "retrieval"), sort_keys=True)
RETRIEVAL_JUDGES = [f"round0_{kind}_{d}" for kind in ("mlp", "kan") for d in ("i2t", "t2i")] + [
    f"{system}_{d}" for system in ("mcm", "kcm") for d in ("i2t", "t2i")
]


ARTIFACTS.extend(
    expand(f"{RET_DIR}/seed{{seed}}/{{file}}", seed=RET["seeds"], file=["outputs.parquet", "history.json"])
)


rule features_retrieval:
    message:
        "Lite0 image and MiniLM text tower features of every pair (cached once)"
    input:
        card=RETRIEVAL_DATA.output.card,
        splits=[RETRIEVAL_DATA.output.train, RETRIEVAL_DATA.output.val, RETRIEVAL_DATA.output.test],
        code=code("kcm.tasks.retrieval.features"),
    output:
        f"{RET_DIR}/tower_features.safetensors",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        batch_size=RET["large"]["tower_batch_size"],
    threads: 1  # it uses 2 torch threads: counted as one, as features_language (see there)
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/features_retrieval.log",
    benchmark:
        f"{BENCH}/features_retrieval.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm features towers --data {params.data} --out {output}"
        " --batch-size {params.batch_size} > {log} 2>&1"


rule large_retrieval_custom_clip:
    message:
        "Large model: open_clip CLIP from the frozen Lite0 + MiniLM towers, LiT projections trained,"
        " saved and reloaded with open_clip, embeddings of every pair"
    input:
        card=RETRIEVAL_DATA.output.card,
        towers=rules.features_retrieval.output[0],
        code=code("kcm.io", "kcm.tasks.retrieval.large"),
    output:
        embeddings=f"{RET_DIR}/large_custom_clip.safetensors",
        meta=f"{RET_DIR}/large_custom_clip.json",
        model=directory(f"{RET_DIR}/custom_clip"),
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        spec=json.dumps(RET["large"], sort_keys=True),
        seed=config["seed"],
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/large_retrieval_custom_clip.log",
    benchmark:
        f"{BENCH}/large_retrieval_custom_clip.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm large retrieval custom_clip --data {params.data} --towers {input.towers}"
        " --model-dir {output.model} --spec {params.spec:q} --seed {params.seed}"
        " --out {output.embeddings} --meta {output.meta} > {log} 2>&1"


rule large_retrieval_openclip:
    message:
        "Large model: pretrained open_clip {params.model} ({params.pretrained}) zero-shot embeddings"
    input:
        card=RETRIEVAL_DATA.output.card,
        code=code("kcm.io", "kcm.tasks.retrieval.large"),
    output:
        embeddings=f"{RET_DIR}/large_openclip.safetensors",
        meta=f"{RET_DIR}/large_openclip.json",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        spec=json.dumps(RET["large"], sort_keys=True),
        model=RET["large"]["model"],
        pretrained=RET["large"]["pretrained"],
    resources:
        gpu=1 if RET["large"]["device"].startswith("cuda") else 0,
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/large_retrieval_openclip.log",
    benchmark:
        f"{BENCH}/large_retrieval_openclip.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm large retrieval openclip --data {params.data} --spec {params.spec:q}"
        " --out {output.embeddings} --meta {output.meta} > {log} 2>&1"


RETRIEVAL_LARGE = rules.large_retrieval_openclip if RET["large"]["kind"] == "openclip" else rules.large_retrieval_custom_clip
ARTIFACTS.append(RETRIEVAL_LARGE.output.embeddings)


rule experiment_retrieval:
    message:
        "Retrieval, seed {wildcards.seed}: small, large, +MCM, +KCM and every router, both directions"
    input:
        card=RETRIEVAL_DATA.output.card,
        large=RETRIEVAL_LARGE.output.embeddings,
        code=code("kcm.tasks.retrieval.experiment"),
    output:
        outputs=f"{RET_DIR}/seed{{seed}}/outputs.parquet",
        history=f"{RET_DIR}/seed{{seed}}/history.json",
        judges=expand(f"{RET_DIR}/seed{{{{seed}}}}/judges/{{name}}.safetensors", name=RETRIEVAL_JUDGES),
        judge_tests=f"{RET_DIR}/seed{{seed}}/judges/test_inputs.safetensors",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        out_dir=lambda wildcards, output: os.path.dirname(output.outputs),
        params=RETRIEVAL_PARAMS,
    priority: PRIORITY["long"]
    log:
        f"{LOGS}/experiment_retrieval_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/experiment_retrieval_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm experiment retrieval --data {params.data} --large {input.large}"
        " --seed {wildcards.seed} --params {params.params:q} --out-dir {params.out_dir} > {log} 2>&1"
