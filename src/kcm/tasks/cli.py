"""What the modality cli modules share: the `kcm experiment <task>` options (no verbs of its own)."""

from __future__ import annotations

import argparse
from pathlib import Path


def large_paths(items: list[str]) -> dict[str, Path]:
    """`name=path` arguments of cached large outputs -> {name: path}."""
    return {name: Path(path) for name, path in (item.split("=", 1) for item in items)}


def experiment_verb(groups, task: str, sections: str, large: dict, handler) -> argparse.ArgumentParser:
    """`kcm experiment <task>`: one seed of every system and router (the same options for each task)."""
    sub = groups["experiment"].add_parser(task, help=f"every system and router of the {task} experiment")
    sub.add_argument("--data", type=Path, required=True, help="dataset folder (kcm data ...)")
    sub.add_argument("--large", required=True, **large)
    sub.add_argument("--seed", type=int, required=True)
    sub.add_argument("--params", required=True, help=f"JSON: {sections} sections")
    sub.add_argument("--out-dir", type=Path, required=True)
    sub.set_defaults(func=handler)
    return sub


def features_verb(groups, name: str, text: str, handler) -> argparse.ArgumentParser:
    """`kcm features <name>`: a dataset folder in, one .safetensors of features out."""
    sub = groups["features"].add_parser(name, help=text)
    sub.add_argument("--data", type=Path, required=True, help="dataset folder (kcm data ...)")
    sub.add_argument("--out", type=Path, required=True, help="output .safetensors")
    sub.set_defaults(func=handler)
    return sub
