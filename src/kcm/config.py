"""Readable config errors: which key is wrong, what is allowed there, and how to fix it.

The workflow validates with `snakemake.utils.validate` (JSON schema, defaults filled in); this
module turns the resulting jsonschema error into one message a user can act on, and checks
the few rules a schema cannot express.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema

FIX = "Fix it in your config file (config/*.yaml) or in --config, then run again."


def key_path(path) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def allowed(schema: dict) -> str:
    """A short description of what a schema node accepts."""
    parts = []
    if "enum" in schema:
        parts.append(f"one of {schema['enum']}")
    elif "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        parts.append(" or ".join(types))
    for word, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if word in schema:
            parts.append(f"{op} {schema[word]}")
    if "pattern" in schema:
        parts.append(f"matching {schema['pattern']}")
    if schema.get("type") == "array" and "items" in schema:
        parts.append(f"items: {allowed(schema['items'])}")
    text = ", ".join(parts) or "see workflow/schemas/config.schema.yaml"
    if "description" in schema:
        text += f" ({schema['description'].strip()})"
    return text


def explain(error: jsonschema.ValidationError) -> str:
    """One actionable sentence for a schema violation."""
    where = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        keys = ", ".join(repr(key_path([*where, k])) for k in unknown)
        return f"Unknown config key {keys}. Allowed keys at {key_path(where)}: {known}. {FIX}"
    if error.validator == "required":
        return f"Config key {key_path(where)!r}: {error.message}. {FIX}"
    return (
        f"Config key {key_path(where)!r} = {error.instance!r} is invalid ({error.message}). "
        f"Allowed: {allowed(error.schema)}. {FIX}"
    )


def check_semantics(config: dict) -> None:
    """Rules a JSON schema cannot state; raises ValueError naming the key."""
    for source in ("bbc", "huggingface", "twemoji"):
        fractions = config["data"][source]["fractions"]
        if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-9):
            raise ValueError(
                f"Config key 'data.{source}.fractions' = {fractions} must sum to 1 "
                f"(sums to {sum(fractions.values())}). {FIX}"
            )
    language, fields = config["language"], config["baseline"]["text"]["fields"]
    hf = config["data"]["huggingface"]
    if language["dataset"] == "huggingface" and not hf["path"]:
        raise ValueError(f"Config key 'data.huggingface.path' must name a dataset when "
                         f"language.dataset is huggingface (a hub id, a loader or a folder). {FIX}")
    columns = ["title", "lead", "body"] if language["dataset"] == "bbc" else hf["text_fields"]
    unknown = [f for f in fields if f not in columns]
    if unknown:
        raise ValueError(f"Config key 'baseline.text.fields' = {fields}: {unknown} are not columns of the "
                         f"{language['dataset']} dataset; choose from {columns}. {FIX}")
    endpoint = language["large_b"]["endpoint"]
    if language["large_b"]["kind"] == "endpoint" and not (endpoint["base_url"] and endpoint["model"]):
        raise ValueError(f"Config keys 'language.large_b.endpoint.base_url' and '.model' are required "
                         f"when language.large_b.kind is endpoint. {FIX}")
    retrieval = config["retrieval"]
    if retrieval["large"]["kind"] == "custom_clip" and retrieval["loop"]["split"] == "per_seed":
        raise ValueError("Config key 'retrieval.loop.split' = per_seed with retrieval.large.kind = custom_clip: the "
                         "custom CLIP is trained on the fixed train pairs, so a re-drawn val would hold images it "
                         f"learnt (val R@1 and every threshold chosen on val optimistic); use split: fixed. {FIX}")
    if retrieval["loop"]["shortlist"] == 1:
        raise ValueError(f"Config key 'retrieval.loop.shortlist' = 1 leaves the large model nothing to re-rank "
                         f"(its answer would always be the small model's); use 0 (whole gallery) or k >= 2. {FIX}")
    check_paper_sources(config)
    robustness_variants(config)


COCO_SOURCES = ("karpathy", "train2014", "val2014")
# `datasets`' packaged loaders: a path naming one reads local files (data_files), not the hub.
HF_LOADERS = {"csv", "json", "parquet", "text", "arrow", "pandas"}


def check_paper_sources(config: dict) -> None:
    """What a download needs to be checked and reproducible, before any job: the md5 of every COCO
    source, and a pinned revision for a Hugging Face hub dataset (a loader or a local folder has
    none). Raises ValueError naming the key and the fix."""
    if config["retrieval"]["dataset"] == "coco_karpathy":
        md5 = config["data"]["coco_karpathy"]["md5"]
        missing = [part for part in COCO_SOURCES if not md5.get(part)]
        if missing:
            raise ValueError(
                f"Config key 'data.coco_karpathy.md5' lacks {missing}: retrieval.dataset is coco_karpathy, whose "
                "downloads are md5-checked, and this project ships no verified checksums (the values in circulation "
                "are in kcm.data.coco_karpathy.PUBLISHED_MD5_UNVERIFIED). Write the md5 you trust for each, e.g. "
                f"md5: {{karpathy: <32 hex>, train2014: <32 hex>, val2014: <32 hex>}}. {FIX}")
    hf = config["data"]["huggingface"]
    path = hf["path"]
    hub = path and path not in HF_LOADERS and not Path(path).exists()
    if config["language"]["dataset"] == "huggingface" and hub and not hf["revision"]:
        raise ValueError(
            f"Config key 'data.huggingface.revision' is empty for the hub dataset {path!r}: without a pinned commit "
            "a rerun may read other data. Set it to the commit you use (the hub's dataset page lists them, or "
            f"huggingface_hub.HfApi().dataset_info({path!r}).sha). {FIX}")


# --------------------------------------------------------------------------- robustness sweep

_SLUG = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Variant:
    """One setting of the robustness sweep: `key` (<modality>.<section>.<name>) set to `value`."""
    key: str
    value: object
    slug: str        # the value as a folder name: true, 0.25, 16 ([16]), 4-4 ([4, 4])
    default: bool    # the configured value itself: the main run, no jobs of its own

    @property
    def modality(self) -> str:
        return self.key.split(".")[0]

    @property
    def folder(self) -> str:
        """results/<run>/<folder>/: robustness/<axis>/<value>."""
        return f"robustness/{self.key}/{self.slug}"


def value_slug(value) -> str:
    """A value as a folder name (lists joined by '-', JSON scalars as written)."""
    if isinstance(value, list):
        return "-".join(value_slug(v) for v in value)
    return json.dumps(value).strip('"')


def get_key(config: dict, key: str):
    node = config
    for part in key.split("."):
        node = node[part]
    return node


def with_value(config: dict, key: str, value) -> dict:
    """A deep copy of `config` with `key` (dotted) set to `value`."""
    out = copy.deepcopy(config)
    *head, last = key.split(".")
    node = out
    for part in head:
        node = node[part]
    node[last] = copy.deepcopy(value)
    return out


def robustness_variants(config: dict) -> list[Variant]:
    """Every (axis, value) of `robustness.axes`, in config order; raises ValueError naming the
    axis for a key the experiments do not have or two values with one folder name. Whether each
    value is valid where its key is is the schema's job (the workflow validates every variant)."""
    variants, seen = [], set()
    for i, axis in enumerate(config["robustness"]["axes"]):
        key, where = axis["key"], f"'robustness.axes[{i}]'"
        if key in seen:
            raise ValueError(f"Config key {where}: axis {key!r} is listed twice; merge its values. {FIX}")
        seen.add(key)
        try:
            configured = get_key(config, key)
        except (KeyError, TypeError):
            modality, section, _ = key.split(".")
            known = sorted(config[modality].get(section, {})) if isinstance(config[modality].get(section), dict) else []
            raise ValueError(f"Config key {where}: {key!r} is not an experiment parameter "
                             f"(keys of {modality}.{section}: {known or 'none: no such section'}). {FIX}") from None
        slugs = [value_slug(v) for v in axis["values"]]
        bad = [s for s in slugs if not _SLUG.match(s)]
        if bad or len(set(slugs)) < len(slugs):
            raise ValueError(f"Config key {where}: values {axis['values']} must be distinct scalars or lists of "
                             f"them, each a folder name of letters, digits, '.', '_' or '-' (got {slugs}). {FIX}")
        variants += [Variant(key, v, s, v == configured) for v, s in zip(axis["values"], slugs)]
    return variants


EXPERIMENT_SECTIONS = ("small", "loop", "distill", "judge")


def experiment_params(config: dict, modality: str) -> dict:
    """The config sections a modality's experiment job reads (its one --params JSON): the small
    model, the loop, distillation and the judges; language's small model is baseline.text."""
    sections = {s: config[modality][s] for s in EXPERIMENT_SECTIONS if s in config[modality]}
    if modality == "language":
        sections["tfidf"] = config["baseline"]["text"]
    return sections
