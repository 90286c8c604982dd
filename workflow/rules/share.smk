# SHARe-KAN (arXiv 2512.15742 v2): dense KAN heads on the vision large model's features, the
# compression sweeps on them and on every KAN judge the experiments trained, and the ExecuTorch
# runtime of dense vs compressed heads.

SHARE = config["share"]
SHARE_DIR = f"{RESULTS}/share"
SHARE_PARAMS = json.dumps(SHARE, sort_keys=True)
JUDGE_FOLDERS = (
    expand(f"{LANG_DIR}/seed{{seed}}/judges", seed=config["language"]["seeds"])
    + expand(f"{VIS_DIR}/seed{{seed}}/judges", seed=config["vision"]["seeds"])
    + expand(f"{RET_DIR}/seed{{seed}}/judges", seed=config["retrieval"]["seeds"])
)
# The first seed's judges of each experiment: their deployed programs are measured on the edge
# runtime too (issue 19); the other seeds' judges have the same widths.
EDGE_JUDGE_FOLDERS = [f"{LANG_DIR}/seed{config['language']['seeds'][0]}/judges",
                      f"{VIS_DIR}/seed{config['vision']['seeds'][0]}/judges",
                      f"{RET_DIR}/seed{config['retrieval']['seeds'][0]}/judges"]
ARTIFACTS.append(f"{SHARE_DIR}/heads.safetensors")


rule share_heads:
    message:
        "Dense KAN heads (and the MLP / linear heads they are compared with) on the frozen Lite0 features"
    input:
        card=VISION_DATA.output.card,
        features=rules.features_vision.output[0],
        code=code("kcm.tasks.share.heads"),
    output:
        f"{SHARE_DIR}/heads.safetensors",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        params=SHARE_PARAMS,
    priority: PRIORITY["long"]
    log:
        f"{LOGS}/share_heads.log",
    benchmark:
        f"{BENCH}/share_heads.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm share heads --data {params.data} --features {input.features}"
        " --params {params.params:q} --out {output} > {log} 2>&1"


rule share_sweep:
    message:
        "SHARe-KAN on the dense head: codebook sizes x precisions, pruning, shared codebooks for N heads"
    input:
        card=VISION_DATA.output.card,
        features=rules.features_vision.output[0],
        heads=rules.share_heads.output[0],
        code=code("kcm.io", "kcm.tasks.share.experiment"),
    output:
        f"{SHARE_DIR}/compression.json",
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        params=SHARE_PARAMS,
    log:
        f"{LOGS}/share_sweep.log",
    benchmark:
        f"{BENCH}/share_sweep.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm share sweep --data {params.data} --features {input.features} --heads {input.heads}"
        " --params {params.params:q} --out {output} > {log} 2>&1"


rule share_judges:
    message:
        "SHARe-KAN on every KAN judge of the language, vision and retrieval experiments"
    input:
        tests=[f"{folder}/test_inputs.safetensors" for folder in JUDGE_FOLDERS],
        code=code("kcm.io", "kcm.tasks.share.experiment"),
    output:
        f"{SHARE_DIR}/judges.json",
    params:
        folders=" ".join(JUDGE_FOLDERS),
        params=SHARE_PARAMS,
    log:
        f"{LOGS}/share_judges.log",
    benchmark:
        f"{BENCH}/share_judges.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm share judges --judges {params.folders} --params {params.params:q} --out {output} > {log} 2>&1"


rule share_edge:
    message:
        "ExecuTorch: dense vs SHARe-KAN heads as .pte, planned arena, RSS and batch-1 latency in a fresh process"
    input:
        card=VISION_DATA.output.card,
        features=rules.features_vision.output[0],
        heads=rules.share_heads.output[0],
        code=code("kcm.io", "kcm.tasks.share.experiment"),
    output:
        facts=f"{SHARE_DIR}/edge/facts.json",
        runtime=f"{SHARE_DIR}/edge/runtime.json",
        # dense KAN, one SHARe-KAN head per precision, the MLP, the two runtime programs
        # (kcm.tasks.share.experiment.edge_variants)
        pte=expand(f"{SHARE_DIR}/edge/head{{i}}.pte", i=range(4 + len(SHARE["edge"]["precisions"]))),
    params:
        data=lambda wildcards, input: os.path.dirname(input.card),
        params=SHARE_PARAMS,
    # More than any --cores: Snakemake caps a rule's threads at --cores, so this job takes every
    # core of the run and nothing runs beside it; the latency and RSS probes are not measured
    # under the other jobs' load. (Not `workflow.cores`: that fails where no --cores is given,
    # e.g. `snakemake --report`.)
    threads: 1024
    log:
        f"{LOGS}/share_edge.log",
    benchmark:
        f"{BENCH}/share_edge.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm share edge --data {params.data} --features {input.features} --heads {input.heads}"
        " --params {params.params:q} --out {output.facts} --runtime {output.runtime} > {log} 2>&1"


rule share_edge_judges:
    message:
        "ExecuTorch: the KCM judges' dense and codebook runtime programs, planned arena, RSS and batch-1 latency"
    input:
        judges=[f"{folder}/test_inputs.safetensors" for folder in EDGE_JUDGE_FOLDERS],
        code=code("kcm.io", "kcm.tasks.share.experiment"),
    output:
        facts=f"{SHARE_DIR}/edge/judges_facts.json",
        runtime=f"{SHARE_DIR}/edge/judges_runtime.json",
    params:
        judges=" ".join(EDGE_JUDGE_FOLDERS),
        params=SHARE_PARAMS,
    threads: 1024  # alone, as share_edge: its latencies are measured
    log:
        f"{LOGS}/share_edge_judges.log",
    benchmark:
        f"{BENCH}/share_edge_judges.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m kcm share edge-judges --judges {params.judges} --params {params.params:q}"
        " --out {output.facts} --runtime {output.runtime} > {log} 2>&1"
