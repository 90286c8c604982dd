"""The paper profile's language path end to end, offline: a Hugging Face dataset in the real
Parquet format, a tiny random-weight BERT fine-tuned as large A and a tiny instruction LLM as
large B, through the same rules and tables as the embedded default."""

import pandas as pd
import pytest
import yaml
from test_hf_classifier import CLASSES, make_tiny_bert, tiny_frame
from test_hf_instruct_llm import make_tiny_lm
from workflow_runner import snakemake

pytestmark = pytest.mark.slow
TARGETS = ("table_language", "table_language_prompted", "table_calls")


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    frame = tiny_frame(90, seed=0, prefix="t")
    for folder in ("bert", "llm"):
        (root / folder).mkdir()
    source = root / "source"
    source.mkdir()
    frame.rename(columns={"title": "text"})[["text", "label"]].to_parquet(source / "train.parquet")
    overlay = {
        "run": "test_paper",
        "offline": True,
        "data": {"huggingface": {"path": "parquet", "data_files": {"train": str(source / "train.parquet")},
                                 "splits": ["train"], "text_fields": ["text"], "label_field": "label",
                                 "label_names": CLASSES}},  # integer labels: bare numbers are refused
        "baseline": {"text": {"fields": ["text"]}},
        "language": {
            "dataset": "huggingface",
            "seeds": [0],
            "loop": {"rounds": 1, "folds": 2},
            "judge": {"max_epochs": 5, "patience": 2},
            "large_a": {"kind": "finetune", "folds": 2,
                        "finetune": {"model_id": make_tiny_bert(root / "bert"), "epochs": 2, "lr": 3e-3,
                                     "max_length": 24, "warmup_ratio": 0.0}},
            "large_b": {"kind": "llm", "llm": {"model_id": make_tiny_lm(root / "llm", "llama"), "batch_size": 64}},
        },
    }
    config = root / "paper_tiny.yaml"
    config.write_text(yaml.safe_dump(overlay))
    workdir = root / "work"
    dry = snakemake(workdir, *TARGETS, "-n", "-p", "--cores", "2", "--configfile", str(config))
    snakemake(workdir, *TARGETS, "--cores", "2", "--configfile", str(config))
    return workdir / "results" / "test_paper", dry.stdout + dry.stderr


def test_the_paper_kinds_replace_the_embedded_models(paper_run):
    _, plan = paper_run
    assert "kcm data huggingface" in plan
    assert "kcm large language finetune" in plan and "kcm large language llm" in plan
    assert "features minilm" not in plan and "data bbc" not in plan


def test_tables_name_the_paper_models_and_their_deviations(paper_run):
    results, _ = paper_run
    card = pd.read_parquet(results / "data/huggingface/train.parquet")
    assert set(card.columns) >= {"id", "label", "label_name", "text"}
    assert sorted(set(card["label_name"])) == sorted(CLASSES)  # the configured names, not "0", "1", "2"
    large_a = pd.read_parquet(results / "language/large_a.parquet")
    assert set(large_a["variant"]) == {"none", "hint_0", "hint_1", "hint_2"}
    md = (results / "tables/table_language.md").read_text()
    assert "fine-tuned on plain and small-hinted texts" in md and "Deviation (language.large_paper)" in md
    assert "Deviation (language.dataset_hf)" in md and "Deviation (language.dedup)" not in md
    prompted = (results / "tables/table_language_prompted.md").read_text()
    assert "scored by the log-probability of its name" in prompted
    rows = [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| +") or line.startswith("| L")]
    assert rows == ["Large", "+D", "+KD", "+MCM", "+KCM"]
