# Provenance: the validated config of this run, next to its results.


rule config_snapshot:
    message:
        "Snapshot of the validated config (defaults filled in) for run {config[run]}"
    output:
        f"{RESULTS}/config.json",
    params:
        # a function: the config holds literal braces (the hint template) that Snakemake
        # would otherwise read as wildcards
        resolved=lambda wildcards: json.dumps(config, sort_keys=True),
    log:
        f"{LOGS}/config_snapshot.log",
    benchmark:
        f"{BENCH}/config_snapshot.tsv"
    conda:
        CONDA_ENV
    run:
        from kcm.io import write_json

        write_json(output[0], json.loads(params.resolved))
