"""The paper profile's whole DAG, end to end, on tiny data in the real formats (issue 18).

config/paper.yaml, with an overlay that points every source at loopback or a local file and every
model at a tiny random-weight checkpoint loaded through the same code paths as the real ones:
- CIFAR-100's official archive layout (Python-2 pickles in a tar.gz; 6 classes), served on
  loopback and md5-checked;
- MSCOCO 2014 zips and Karpathy's dataset_coco.json zip, served on loopback and md5-checked;
- a Hugging Face dataset from local Parquet files with integer labels, named in the config;
- a BERT-shaped encoder and a llama-shaped causal LM (transformers' save_pretrained folders);
- an open_clip ViT in a `local-dir:` folder (open_clip_config.json + weights).
Only scale keys are shrunk (seeds, epochs, folds, rounds, steps, head sizes, the sweep off);
`allow_cpu` is set because this machine has no GPU. `all` must complete and render every table.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from test_hf_classifier import CLASSES, make_tiny_bert, tiny_frame
from test_hf_instruct_llm import make_tiny_lm
from test_openclip_embeddings import TINY_CONFIG
from workflow_runner import REPO, snakemake

from kcm.bench.standins import cifar_archive, coco_sources, open_clip_folder
from kcm.report.registry import TARGETS

CIFAR_CLASSES = ["apple", "aquarium_fish", "baby", "bear", "beaver", "bed"]


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory, server):
    root = tmp_path_factory.mktemp("paper_dag")
    rng = np.random.default_rng(0)
    sources = {"cifar": cifar_archive(CIFAR_CLASSES, 30, 12, rng), **coco_sources(16, 8, 8)}
    for name, payload in sources.items():
        server.files[f"/{name}"] = payload
    md5 = {name: hashlib.md5(payload).hexdigest() for name, payload in sources.items()}
    text = root / "text"
    text.mkdir()
    tiny_frame(90, seed=0, prefix="t").rename(columns={"title": "text"})[["text", "label"]].to_parquet(text / "train.parquet")
    for folder in ("bert", "llm"):
        (root / folder).mkdir()
    coco = ("karpathy", "train2014", "val2014")
    overlay = {
        "run": "paper",
        "offline": True,  # every model is local; no hub
        "allow_cpu": True,  # no GPU here: the GPU rules run on CPU (and log it)
        "data": {
            "huggingface": {"path": "parquet", "data_files": {"train": str(text / "train.parquet")}, "splits": ["train"],
                            "revision": None, "label_names": CLASSES, "max_per_class": None},
            "cifar100_lt": {"url": server.url("/cifar"), "md5": md5["cifar"], "n_max": 30, "imbalance": 10,
                            "val_per_class": 2},
            "coco_karpathy": {"md5": {p: md5[p] for p in coco}, "urls": {p: server.url(f"/{p}") for p in coco},
                              "size": 32, "max_per_split": None},
        },
        "language": {
            "seeds": [0], "loop": {"rounds": 1, "folds": 2}, "judge": {"max_epochs": 5, "patience": 2},
            "large_a": {"folds": 2, "finetune": {"model_id": make_tiny_bert(root / "bert"), "epochs": 1, "lr": 3e-3,
                                                 "max_length": 24, "warmup_ratio": 0.0}},
            "large_b": {"llm": {"model_id": make_tiny_lm(root / "llm", "llama"), "batch_size": 64, "dtype": "float32"}},
        },
        "vision": {
            "seeds": [0], "small": {"epochs": 1, "batch_size": 32}, "large": {"folds": 2},
            "bbn": {"epochs": 1, "batch_size": 32, "folds": 2}, "loop": {"rounds": 1, "folds": 2},
            "judge": {"max_epochs": 5, "patience": 2}, "forgetting": {"pca_dim": 8, "epochs_per_task": 2},
        },
        "retrieval": {
            "seeds": [0], "large": {"model": open_clip_folder(root / "clip", TINY_CONFIG), "pretrained": "", "device": "cpu"},
            "small": {"pixels": 16, "image_dim": 8, "max_ngrams": 256, "dim": 16, "steps": 20, "batch_size": 8},
            "loop": {"rounds": 1, "folds": 2}, "judge": {"max_epochs": 5, "patience": 2},
        },
        "share": {"head": {"hidden": [4], "grid_size": 5, "steps": 5, "heads": 2, "compile": False},
                  "codebook_sizes": [16, 64], "prune": [0.1, 0.5], "multi_head": [1, 5],
                  "edge": {"xnnpack": False, "precisions": ["int8"], "repeats": 3, "warmup": 1}},
    }
    config = root / "paper_tiny.yaml"
    config.write_text(yaml.safe_dump(overlay))
    workdir = root / "work"
    args = ("--cores", "2", "--configfile", str(REPO / "config" / "paper.yaml"), str(config))
    snakemake(workdir, "all", *args, timeout=3000)
    return workdir / "results" / "paper"


def test_the_paper_profile_runs_end_to_end_and_renders_every_table(paper_run):
    workdir = paper_run.parent.parent
    missing = [path for target in TARGETS.values() for path in target.outputs("results/paper").values()
               if not (workdir / path).is_file()]
    assert not missing
    for folder, dataset in (("cifar100_lt", "cifar100_lt"), ("coco_karpathy", "coco_karpathy"), ("huggingface", "hf_text")):
        assert json.loads((paper_run / f"data/{folder}/card.json").read_text())["dataset"] == dataset


def test_every_paper_model_ran_through_its_own_code_path(paper_run):
    logs = paper_run / "logs"
    assert "device: cpu" in (logs / "features_vision.log").read_text()  # the device is logged
    vision = pd.read_csv(paper_run / "tables/table_vision_lt.csv")
    assert {"ResNet-32", "Large", "BBN", "BBN+KCM"} <= set(vision["system"])
    md = (paper_run / "tables/table_vision_lt.md").read_text()
    assert "BBN ResNet-32 on CIFAR-100-LT at imbalance 100" in md and "imbalance 10)" in md  # gate named, not applicable
    language = (paper_run / "tables/table_language.md").read_text()
    assert "fine-tuned on plain and small-hinted texts" in language
    retrieval = (paper_run / "tables/table_retrieval.md").read_text()
    assert f"open_clip local-dir:{paper_run.parents[2] / 'clip'}" in retrieval  # the configured checkpoint ran
