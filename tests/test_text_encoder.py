"""The shipped MiniLM loads offline and gives real, deterministic sentence embeddings."""

import numpy as np
import pytest

from kcm.models.text_encoder import SentenceEncoder


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder(batch_size=2)


def test_embeddings_are_unit_norm_semantic_and_deterministic(encoder):
    texts = ["Stock markets fall on rate fears", "Shares drop sharply in early trading",
             "Striker scores twice in cup final"]
    first = encoder.encode(texts)
    assert first.shape == (3, 384) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    sims = first @ first.T
    assert sims[0, 1] > sims[0, 2] + 0.2  # finance headlines closer to each other than to sport
    np.testing.assert_array_equal(encoder.encode(texts), first)
    # batching must not change a sentence's embedding (padding is masked out of the mean)
    np.testing.assert_allclose(encoder.encode(texts[:1]), first[:1], atol=1e-5)


def test_empty_input_and_bad_path(encoder, tmp_path):
    assert encoder.encode([]).shape == (0, 384)
    with pytest.raises(FileNotFoundError, match="config.json"):
        SentenceEncoder(tmp_path)
