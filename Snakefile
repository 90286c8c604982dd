# KCM / SHARe-KAN replication workflow.
#   snakemake --cores 8 all                        embedded default (offline, CPU)
#   snakemake --cores 8 all --configfile config/paper.yaml   paper scale
#   snakemake --cores 2 table_text_baseline        one table by its target name
# Layout follows the Snakemake workflow template: rules/, schemas/, profiles/, report/.
# Render rules are generated from kcm.report.registry; code inputs follow the imports (kcm.codedeps).
from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/language.smk"
include: "workflow/rules/vision.smk"
include: "workflow/rules/retrieval.smk"
include: "workflow/rules/share.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/render.smk"


rule all:
    default_target: True
    input:
        config_snapshot=f"{RESULTS}/config.json",
        artifacts=ARTIFACTS,
        targets=[path for paths in TARGETS.values() for path in paths],
