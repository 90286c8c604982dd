"""Cached MiniLM inputs: every prompt variant once, deterministic, guarded against row mix-ups."""

import numpy as np
import pandas as pd
import pytest

from kcm.data.build import build_bbc
from kcm.models.text_encoder import SentenceEncoder
from kcm.tasks.language import features as language_features
from kcm.text_hints import DEFAULT_TEMPLATE, variants


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("lf")
    build_bbc(root / "data", seed=0, fractions={"train": 0.6, "val": 0.2, "test": 0.2}, max_per_class=5)
    encoder = SentenceEncoder(batch_size=32)
    paths = [root / "a.safetensors", root / "b.safetensors"]
    for path in paths:
        language_features.build(root / "data", path, ("title",), DEFAULT_TEMPLATE, encoder)
    return root, paths, encoder


def test_every_split_has_the_plain_and_one_hinted_variant_per_class(built):
    root, (path, _), _ = built
    test = pd.read_parquet(root / "data" / "test.parquet")
    arrays = language_features.load(path, "test", test["id"])
    assert sorted(arrays) == ["hint_0", "hint_1", "hint_2", "hint_3", "hint_4", "none"]
    assert all(a.shape == (len(test), 384) for a in arrays.values())
    assert not np.allclose(arrays["none"], arrays["hint_0"])


def test_a_hint_moves_the_embedding_toward_its_class(built):
    root, (path, _), encoder = built
    frame = pd.read_parquet(root / "data" / "train.parquet")
    arrays = language_features.load(path, "train", frame["id"])
    names = encoder.encode(["business", "entertainment", "politics", "sports", "tech"])
    for k in range(5):
        closer = (arrays[f"hint_{k}"] @ names[k]) > (arrays["none"] @ names[k])
        assert closer.mean() > 0.9, k


def test_rebuild_is_byte_identical_and_rows_are_checked(built):
    root, (a, b), _ = built
    assert a.read_bytes() == b.read_bytes()
    val = pd.read_parquet(root / "data" / "val.parquet")
    with pytest.raises(ValueError, match="do not match"):
        language_features.load(a, "val", val["id"][::-1])


def test_template_must_name_text_and_label():
    with pytest.raises(ValueError, match="template"):
        variants(["a"], ["x"], "{text} only")
