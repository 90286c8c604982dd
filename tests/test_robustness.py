"""The robustness sweep: its config (every setting checked before any job), its DAG (a setting
runs only where it differs from the configured value) and how claims are read over it."""

import copy

import pandas as pd
import pytest
import yaml
from snakemake.utils import update_config, validate
from workflow_dag import jobs
from workflow_runner import REPO, snakemake

from kcm.config import robustness_variants, value_slug, with_value
from kcm.report.claims_sweep import reading, summary, survival, sweep_frame

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def config(axes):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["robustness"] = {"axes": axes}
    validate(cfg, str(SCHEMA))
    return cfg


def test_values_become_folder_names_and_the_configured_value_is_the_main_run():
    assert [value_slug(v) for v in (True, 0.25, 1, [16], [4, 4], "plain")] == ["true", "0.25", "1", "16", "4-4", "plain"]
    variants = robustness_variants(config([{"key": "language.judge.hidden", "values": [[8], [16]]}]))
    assert [(v.folder, v.default) for v in variants] == [
        ("robustness/language.judge.hidden/8", True), ("robustness/language.judge.hidden/16", False)]
    changed = with_value(config([]), "vision.distill.lambda_ls", 0.0)
    assert changed["vision"]["distill"] == {"lambda_ls": 0.0, "lambda_js": 0.5, "temperature": 2.0, "teacher": "prompted"}
    assert config([])["vision"]["distill"]["lambda_ls"] == 1.0  # a copy: the config itself is untouched


@pytest.mark.parametrize("axes, named", [
    ([{"key": "language.small.epochs", "values": [1]}], "not an experiment parameter"),
    ([{"key": "vision.judge.hiden", "values": [[4]]}], "keys of vision.judge"),
    ([{"key": "vision.judge.calibrate", "values": [True]}] * 2, "listed twice"),
    ([{"key": "language.judge.hidden", "values": [[16], 16]}], "distinct"),
    ([{"key": "language.loop.split", "values": ["per seed/x"]}], "folder name"),
])
def test_a_bad_axis_is_refused_naming_it(axes, named):
    with pytest.raises(ValueError, match=named) as err:
        robustness_variants(config(axes))
    assert "robustness.axes[" in str(err.value)


def test_a_value_invalid_where_its_key_is_stops_the_workflow_before_any_job(tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(yaml.safe_dump({"robustness": {"axes": [{"key": "vision.judge.calibrate", "values": ["maybe"]}]}}))
    proc = snakemake(tmp_path, "all", "-n", "--configfile", str(overlay), check=False)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert "robustness axis vision.judge.calibrate = 'maybe'" in message and "'vision.judge.calibrate'" in message
    assert "Job stats" not in message


def test_only_settings_that_differ_from_the_configured_value_get_jobs(tmp_path):
    """Every non-configured (axis, value) of config/test.yaml runs once per seed of its modality
    with exactly that key changed in its --params; the configured values add no job."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load((REPO / "config" / "test.yaml").read_text()))
    validate(cfg, str(SCHEMA))
    swept = [v for v in robustness_variants(cfg) if not v.default]
    assert len(swept) == 3 and len(robustness_variants(cfg)) == 6
    dag = jobs(REPO / "Snakefile", tmp_path, REPO / "config" / "test.yaml")
    runs = sorted(o for j in dag if j["rule"].startswith("robust_experiment_") for o in j["outputs"] if o.endswith(".parquet"))
    assert runs == sorted(f"results/test/{v.folder}/seed{s}/outputs.parquet" for v in swept
                          for s in cfg[v.modality]["seeds"])
    for job in (j for j in dag if j["rule"] == "robust_experiment_vision"):
        assert "'{\"distill\": {\"lambda_js\": 0.5, \"lambda_ls\": 0.0," in job["shell"]
    main = {j["rule"]: j["shell"] for j in dag if j["rule"] == "experiment_vision"}
    assert main and all('"lambda_ls": 1.0' in shell for shell in main.values())


# --------------------------------------------------------------------------- reading claims over the sweep


def claims(estimates: dict[str, tuple[float, float, float]], verdict="inconclusive") -> pd.DataFrame:
    """A claims frame: claim -> (estimate, low, high); sources name the modality in the claim."""
    rows = []
    for claim, (est, low, high) in estimates.items():
        source = ("rows above" if claim == "every" else "vision/forgetting/seed*.json" if claim == "forgetting"
                  else f"metrics/{claim.split()[0]}.json")
        v = verdict if low <= 0 <= high else "reproduced" if low > 0 else "contrary (deviation x)"
        rows.append({"claim": claim, "estimate": est, "ci_low": low, "ci_high": high, "null": 0.0,
                     "sign": -1 if "forgetting" in claim else 1, "verdict": v, "basis": "b", "source": source})
    return pd.DataFrame(rows)


def test_a_setting_rereads_only_the_claims_of_its_modality():
    default = claims({"language a": (1, -1, 3), "vision a": (2, 1, 3), "every": (0, -1, 1), "forgetting": (1, -1, 2)})
    variant = claims({"language a": (4, 2, 6), "vision a": (9, 8, 10), "every": (2, 1, 3), "forgetting": (1, -1, 2)})
    assert sweep_frame(default, {("vision.judge.calibrate", "false"): variant})["claim"].tolist().count("forgetting") == 1
    sweep = sweep_frame(default, {("language.judge.calibrate", "false"): variant})
    swept = sweep[sweep["axis"] != "as configured"]
    assert list(swept["claim"]) == ["language a", "every"]  # vision's claim does not read language
    table = summary(sweep).set_index("claim")
    assert table.loc["language a", "sweep_verdict"] == "fragile"
    assert table.loc["language a", "best_setting"] == "language.judge.calibrate = false"
    assert table.loc["language a", "paper_side"] == "language.judge.calibrate = false"
    assert table.loc["vision a", "sweep_verdict"] == "not swept"
    assert survival(sweep) == {"language a": "no: reproduced at language.judge.calibrate = false",
                               "vision a": "not swept", "every": "no: reproduced at language.judge.calibrate = false",
                               "forgetting": "not swept"}


def test_degenerate_and_inconclusive_are_one_reading_for_robustness():
    default = claims({"retrieval i2t": (0, 0, 0)}, verdict="degenerate")
    variant = claims({"retrieval i2t": (0.1, -0.4, 0.6)})
    sweep = sweep_frame(default, {("retrieval.judge.hidden", "16"): variant})
    assert survival(sweep) == {"retrieval i2t": "yes (1 setting)"}


def test_best_and_worst_follow_the_paper_side_and_ties_name_the_configured_run():
    default = claims({"vision forgetting": (-1, -2, 0.5), "vision b": (1, -1, 3)})
    lower = claims({"vision forgetting": (-3, -4, -2), "vision b": (1, -1, 3)})
    higher = claims({"vision forgetting": (2, 1, 3), "vision b": (0, -2, 2)})
    sweep = sweep_frame(default, {("vision.distill.lambda_ls", "0.0"): lower, ("vision.judge.calibrate", "false"): higher})
    table = summary(sweep).set_index("claim")
    # forgetting is claimed lower (sign -1): the lowest estimate is the best
    assert table.loc["vision forgetting", "best_setting"] == "vision.distill.lambda_ls = 0.0"
    assert table.loc["vision forgetting", "worst_setting"] == "vision.judge.calibrate = false"
    assert table.loc["vision b", "best_setting"] == "as configured"  # tied with lambda_ls = 0.0
    assert table.loc["vision b", "sweep_verdict"] == "robust" and table.loc["vision b", "settings"] == 2


def test_an_unverified_row_reads_what_the_measurement_would_read():
    basis = "the paper's number is from X; against it our measurement would read direction only (the CI ...)"
    assert reading("source unverified", basis) == "direction only"
    assert reading("contrary (deviation language.large)", "the CI lies below") == "contrary"


def test_a_setting_with_other_claims_is_refused():
    default = claims({"language a": (1, -1, 3)})
    with pytest.raises(ValueError, match="other claims"):
        sweep_frame(default, {("language.loop.rounds", "1"): claims({"language b": (1, -1, 3)})})


def test_schema_default_sweep_is_the_embedded_one():
    cfg = copy.deepcopy(config([]))
    del cfg["robustness"]
    validate(cfg, str(SCHEMA))
    assert cfg["robustness"] == yaml.safe_load((REPO / "config" / "config.yaml").read_text())["robustness"]


# --------------------------------------------------------------------------- the axes that needed code


@pytest.fixture(scope="module")
def bbc_task(tmp_path_factory):
    """A small BBC language task over a fake large-model table (test_resplit's)."""
    from test_resplit import write_large

    from kcm.baselines.text_tfidf import TfidfParams
    from kcm.data.build import build_bbc
    from kcm.distill import DistillWeights
    from kcm.tasks.language.task import LanguageTask

    root = tmp_path_factory.mktemp("bbc")
    build_bbc(root / "data", seed=0, fractions={"train": 0.6, "val": 0.2, "test": 0.2}, max_per_class=20)
    frames = {s: pd.read_parquet(root / "data" / f"{s}.parquet") for s in ("train", "val", "test")}
    large = {"a": write_large(root / "large.parquet", frames, 5, 1)}
    return lambda svd_dim, teacher: LanguageTask(root / "data", large, TfidfParams(fields=("title",), min_df=1),
                                                 DistillWeights(teacher=teacher), svd_dim=svd_dim)


def test_svd_dim_zero_feeds_the_judge_the_small_models_probabilities_only(bbc_task):
    import numpy as np

    task = bbc_task(0, "prompted")
    probs = np.full((len(task.labels("val")), task.n_classes), 0.2, np.float32)
    assert task.judge_inputs("val", probs, None).shape == (len(probs), task.n_classes)
    assert bbc_task(4, "prompted").judge_inputs("val", probs, None).shape == (len(probs), 4 + task.n_classes)


def test_a_plain_teacher_teaches_the_unhinted_large_answers(bbc_task):
    import numpy as np

    from kcm.large_outputs import hinted_rows
    from kcm.loop.core import SmallState

    prompted, plain = bbc_task(4, "prompted"), bbc_task(4, "plain")
    rng = np.random.default_rng(0)
    train = rng.dirichlet(np.ones(prompted.n_classes), prompted.n_train)
    state = SmallState(None, train, None, None)
    asked = {None: rng.random(prompted.n_train) < 0.5}
    variants = prompted.large["a"]["train"]
    assert np.array_equal(prompted.teachers(state, "a", asked, None, False).large_probs,
                          hinted_rows(variants, train.argmax(1)))
    assert np.array_equal(plain.teachers(state, "a", asked, None, False).large_probs, variants["none"])
    assert not np.array_equal(variants["none"], hinted_rows(variants, train.argmax(1)))
