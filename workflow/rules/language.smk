# The language experiment (KCM's APD tables): cached large-model outputs, then one job per
# seed running every system and router through the closed loop (kcm.rounds).

LANG = config["language"]
LANG_DIR = f"{RESULTS}/language"


# The config sections the experiment reads, as one JSON argument.
LANGUAGE_PARAMS = json.dumps(experiment_params(config, "language"), sort_keys=True)


LARGE_A, LARGE_B = LANG["large_a"], LANG["large_b"]
USES_MINILM = LARGE_A["kind"] == "minilm_head" or LARGE_B["kind"] == "minilm_zero_shot"
OFFLINE_FLAG = "--offline" if config["offline"] else ""
if USES_MINILM:
    ARTIFACTS.append(f"{LANG_DIR}/minilm_features.safetensors")


rule features_language:
    message:
        "all-MiniLM-L6-v2 embeddings of every text, plain and with each class hint (cached once)"
    input:
        card=LANGUAGE_DATA.output.card,
        splits=[LANGUAGE_DATA.output.train, LANGUAGE_DATA.output.val, LANGUAGE_DATA.output.test],
        code=code("kcm.models.text_encoder", "kcm.tasks.language.features"),
    output:
        f"{LANG_DIR}/minilm_features.safetensors",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        fields=" ".join(config["baseline"]["text"]["fields"]),
        template=lambda wildcards: LANG["hint_template"],
        max_length=LANG["encoder"]["max_length"],
        batch_size=LANG["encoder"]["batch_size"],
    # torch always uses 2 threads here (fixed: float sums depend on it), but the scheduler counts
    # one: declared 2, it waited for both cores while a single-thread job held one, and a core
    # stood idle for minutes (docs/speed.md). The Slurm profile asks for its 2 CPUs itself.
    threads: 1
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/features_language.log",
    benchmark:
        f"{BENCH}/features_language.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm features minilm --data {params.data} --out {output} --fields {params.fields}"
        " --hint-template {params.template:q} --max-length {params.max_length}"
        " --batch-size {params.batch_size} --threads 2 > {log} 2>&1"


ARTIFACTS.append(f"{LANG_DIR}/large_a.parquet")
ARTIFACTS.append(f"{LANG_DIR}/large_b.parquet")


# Large A: the embedded MiniLM + head, or (paper profile) a fine-tuned Hugging Face encoder.
if LARGE_A["kind"] == "minilm_head":
    LARGE_A_INPUT = {"features": rules.features_language.output[0]}
    LARGE_A_CMD = "head --features {input.features} --C {params.C}"
else:
    LARGE_A_INPUT = {}
    LARGE_A_CMD = f"finetune --spec {{params.spec:q}} --template {{params.template:q}} {OFFLINE_FLAG}"


rule large_language_a:
    message:
        f"Large A ({LARGE_A['kind']}): trained on plain and hinted texts (out-of-fold on train)"
    input:
        card=LANGUAGE_DATA.output.card,
        **LARGE_A_INPUT,
        code=code("kcm.tasks.language.large"),
    output:
        f"{LANG_DIR}/large_a.parquet",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        tfidf=json.dumps(config["baseline"]["text"], sort_keys=True),
        C=LARGE_A["C"],
        folds=LARGE_A["folds"],
        seed=config["seed"],
        spec=lambda wildcards: json.dumps(LARGE_A["finetune"] if LARGE_A["kind"] == "finetune" else {}, sort_keys=True),
        template=lambda wildcards: LANG["hint_template"],
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/large_language_a.log",
    benchmark:
        f"{BENCH}/large_language_a.tsv"
    conda:
        CONDA_ENV
    shell:
        f"python -m kcm large language {LARGE_A_CMD}"
        " --data {params.data} --out {output}"
        " --tfidf {params.tfidf:q} --folds {params.folds} --seed {params.seed} > {log} 2>&1"


# Large B: the embedded MiniLM zero-shot prompts, or (paper profile) an instruction LLM,
# local or behind an OpenAI-compatible endpoint.
if LARGE_B["kind"] == "minilm_zero_shot":
    LARGE_B_INPUT = {"features": rules.features_language.output[0]}
    LARGE_B_CMD = "zero-shot --features {input.features} --scale {params.scale} --prompt {params.prompt:q}"
else:
    LARGE_B_INPUT = {}
    LARGE_B_CMD = f"{LARGE_B['kind']} --spec {{params.spec:q}} {OFFLINE_FLAG}"


rule large_language_b:
    message:
        f"Large B ({LARGE_B['kind']}): zero-shot prompts, plain and hinted"
    input:
        card=LANGUAGE_DATA.output.card,
        **LARGE_B_INPUT,
        code=code("kcm.tasks.language.large"),
    output:
        f"{LANG_DIR}/large_b.parquet",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        scale=LARGE_B["scale"],
        prompt=lambda wildcards: LARGE_B["prompt"],  # a function: its {description} is not a wildcard
        tfidf=json.dumps(config["baseline"]["text"], sort_keys=True),
        spec=lambda wildcards: json.dumps(LARGE_B[LARGE_B["kind"]] if LARGE_B["kind"] != "minilm_zero_shot" else {}, sort_keys=True),
    priority: PRIORITY["inputs"]
    log:
        f"{LOGS}/large_language_b.log",
    benchmark:
        f"{BENCH}/large_language_b.tsv"
    conda:
        CONDA_ENV
    shell:
        f"python -m kcm large language {LARGE_B_CMD}"
        " --data {params.data} --out {output}"
        " --tfidf {params.tfidf:q} > {log} 2>&1"


LANGUAGE_JUDGES = [f"round0_{r}" for r in ("mlp", "kan", "mlp_binary", "kan_binary")] + [
    f"{large}_{system}" for large in ("a", "b") for system in ("mcm", "kcm")
]
ARTIFACTS.extend(
    expand(f"{LANG_DIR}/seed{{seed}}/{{file}}", seed=LANG["seeds"], file=["outputs.parquet", "history.json"])
)


rule experiment_language:
    message:
        "Language, seed {wildcards.seed}: small, large, +D, +KD, +MCM, +KCM and every router"
    input:
        card=LANGUAGE_DATA.output.card,
        a=rules.large_language_a.output[0],
        b=rules.large_language_b.output[0],
        code=code("kcm.tasks.language.experiment"),
    output:
        outputs=f"{LANG_DIR}/seed{{seed}}/outputs.parquet",
        history=f"{LANG_DIR}/seed{{seed}}/history.json",
        judges=expand(f"{LANG_DIR}/seed{{{{seed}}}}/judges/{{name}}.safetensors", name=LANGUAGE_JUDGES),
        judge_tests=f"{LANG_DIR}/seed{{seed}}/judges/test_inputs.safetensors",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        out_dir=lambda wildcards, output: os.path.dirname(output.outputs),
        params=LANGUAGE_PARAMS,
    priority: PRIORITY["long"]
    log:
        f"{LOGS}/experiment_language_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/experiment_language_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm experiment language --data {params.data} --large a={input.a} b={input.b}"
        " --seed {wildcards.seed} --params {params.params:q} --out-dir {params.out_dir} > {log} 2>&1"
