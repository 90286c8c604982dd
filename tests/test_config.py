"""Config: schema defaults, shipped configs valid, bad configs stopped before any job with the key named."""

import copy

import jsonschema
import pytest
import yaml
from snakemake.utils import update_config, validate
from workflow_runner import REPO, snakemake

from kcm.config import check_semantics, explain

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


def validated(cfg):
    cfg = copy.deepcopy(cfg)
    validate(cfg, str(SCHEMA))
    return cfg


def test_schema_defaults_are_the_embedded_default():
    assert validated({}) == validated(load("config.yaml")) == load("config.yaml")


# What a user of the paper profile writes in before running: the md5 of each COCO source and the
# Hugging Face revision (placeholders: no job runs in these tests).
PAPER_SOURCES = {"data": {"coco_karpathy": {"md5": {p: "0" * 32 for p in ("karpathy", "train2014", "val2014")}},
                          "huggingface": {"revision": "0" * 40}}}


@pytest.mark.parametrize("overlay", ["paper.yaml", "test.yaml"])
def test_overlays_are_valid_on_top_of_the_default(overlay):
    cfg = load("config.yaml")
    update_config(cfg, load(overlay))
    if overlay == "paper.yaml":
        update_config(cfg, copy.deepcopy(PAPER_SOURCES))
    cfg = validated(cfg)
    check_semantics(cfg)
    assert cfg["run"] == overlay.removesuffix(".yaml")


def error_for(cfg):
    schema = yaml.safe_load(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return explain(jsonschema.exceptions.best_match(validator.iter_errors(cfg)))


def test_unknown_nested_key_names_the_key_and_the_allowed_ones():
    message = error_for({"baseline": {"text": {"ngram": 2}}})
    assert "'baseline.text.ngram'" in message
    assert "['C', 'fields', 'max_features', 'min_df', 'ngram_max']" in message


def test_wrong_type_names_the_key_type_and_bounds():
    message = error_for({"baseline": {"text": {"C": "strong"}}})
    assert "'baseline.text.C'" in message and "number, > 0" in message


def test_bad_enum_lists_the_choices():
    message = error_for({"language": {"dataset": "apd"}})
    assert "language.dataset" in message and "['bbc', 'huggingface']" in message


@pytest.mark.parametrize(
    "overlay, key",
    [
        ({"baseline": {"text": {"fields": ["headline"]}}}, "baseline.text.fields"),
        ({"language": {"dataset": "huggingface"}}, "data.huggingface.path"),
        ({"language": {"dataset": "huggingface"}, "data": {"huggingface": {"path": "ag_news"}},
          "baseline": {"text": {"fields": ["title"]}}}, "baseline.text.fields"),
        ({"language": {"large_b": {"kind": "endpoint"}}}, "language.large_b.endpoint"),
        ({"data": {"huggingface": {"fractions": {"train": 0.9, "val": 0.2, "test": 0.2}}}},
         "data.huggingface.fractions"),
        ({"retrieval": {"loop": {"split": "per_seed"}}}, "retrieval.loop.split"),
    ],
)
def test_settings_that_cannot_work_together_name_the_key(overlay, key):
    cfg = validated(overlay)
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        check_semantics(cfg)


def test_fractions_must_sum_to_one():
    cfg = validated({"data": {"bbc": {"fractions": {"train": 0.5, "val": 0.2, "test": 0.2}}}})
    with pytest.raises(ValueError, match="data.bbc.fractions"):
        check_semantics(cfg)


@pytest.mark.parametrize(
    "args, key",
    [
        (["--config", "bogus=1"], "'bogus'"),
        (["--config", "seed=abc"], "'seed'"),
    ],
)
def test_snakemake_stops_before_any_job(tmp_path, args, key):
    proc = snakemake(tmp_path, "--cores", "1", "all", *args, check=False)
    assert proc.returncode != 0
    assert key in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists()


def test_snakemake_rejects_a_config_file_with_a_wrong_type(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("baseline:\n  text:\n    max_features: many\n")
    proc = snakemake(tmp_path, "--cores", "1", "all", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert "'baseline.text.max_features'" in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists()


def test_the_paper_profile_as_shipped_stops_before_any_job_naming_what_to_fill_in(tmp_path):
    """No verified COCO checksums and no pinned revision ship with config/paper.yaml: the run stops
    at validation, naming the key and the fix, not hours later inside a download job."""
    paper = ("--configfile", str(REPO / "config" / "paper.yaml"))
    proc = snakemake(tmp_path, "all", "-n", *paper, check=False)
    assert proc.returncode != 0 and "Job stats" not in proc.stdout + proc.stderr
    assert "'data.coco_karpathy.md5' lacks ['karpathy', 'train2014', 'val2014']" in proc.stdout + proc.stderr
    md5 = tmp_path / "md5.yaml"
    md5.write_text(yaml.safe_dump({"data": {"coco_karpathy": PAPER_SOURCES["data"]["coco_karpathy"]}}))
    proc = snakemake(tmp_path, "all", "-n", *paper, str(md5), check=False)
    assert proc.returncode != 0 and "'data.huggingface.revision' is empty for the hub dataset 'fancyzhx/ag_news'" in (
        proc.stdout + proc.stderr)
    filled = tmp_path / "filled.yaml"
    filled.write_text(yaml.safe_dump(PAPER_SOURCES))
    proc = snakemake(tmp_path, "all", "-n", *paper, str(filled))
    assert "Job stats" in proc.stdout + proc.stderr


def test_only_the_known_coco_sources_take_a_checksum():
    message = error_for({"data": {"coco_karpathy": {"md5": {"val2017": "0" * 32}}}})
    assert "'data.coco_karpathy.md5.val2017'" in message and "['karpathy', 'train2014', 'val2014']" in message


@pytest.mark.parametrize("path", ["parquet", "{folder}"])
def test_a_loader_or_a_local_folder_needs_no_revision(tmp_path, path):
    cfg = validated({"language": {"dataset": "huggingface"}, "baseline": {"text": {"fields": ["text"]}},
                     "data": {"huggingface": {"path": path.format(folder=tmp_path)}}})
    check_semantics(cfg)


def test_caches_and_downloads_go_where_cache_dir_says_and_cifar_can_come_from_a_mirror(tmp_path):
    """Every job's caches (HF_HOME, TORCH_HOME, XDG_CACHE_HOME) and the paper profile's download
    folders follow config cache_dir (shared storage on a cluster); the CIFAR-100 address and md5
    are config, as COCO's are."""
    from workflow_dag import job_environment, jobs

    shared = tmp_path / "shared"
    overlay = tmp_path / "cluster.yaml"
    overlay.write_text(yaml.safe_dump({**copy.deepcopy(PAPER_SOURCES), "cache_dir": str(shared)}))
    mirror = tmp_path / "mirror.yaml"
    mirror.write_text(yaml.safe_dump({"data": {"cifar100_lt": {"url": "https://mirror.example/c100.tar.gz",
                                                               "md5": "1" * 32}}}))
    configs = (REPO / "config" / "paper.yaml", overlay, mirror)
    dag = {job["rule"]: job["shell"] for job in jobs(REPO / "Snakefile", tmp_path / "work", *configs)}
    assert f"--downloads {shared}/downloads" in dag["data_cifar100_lt"]
    assert "--url https://mirror.example/c100.tar.gz --md5 " + "1" * 32 in dag["data_cifar100_lt"]
    assert f"--downloads {shared}/downloads" in dag["data_coco_karpathy"]
    assert f"--cache-dir {shared}/huggingface/datasets" in dag["data_huggingface"]
    assert job_environment(REPO / "Snakefile", tmp_path / "work", *configs) == {
        "XDG_CACHE_HOME": str(shared), "HF_HOME": str(shared / "huggingface"), "TORCH_HOME": str(shared / "torch"),
        "KCM_ALLOW_CPU": "0"}  # the paper profile: GPU jobs refuse CPU (kcm.device)
