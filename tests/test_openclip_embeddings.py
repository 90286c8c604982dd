"""`kcm.tasks.large.openclip_embeddings` (the paper profile's zero-shot large model), offline:
a tiny open_clip ViT registered with `open_clip.add_model_config`, randomly initialised, saved
to a checkpoint that is passed as `pretrained` (open_clip accepts a file path), on a tiny pair
folder written with `write_pair_dataset`."""

import json

import numpy as np
import pytest
import torch

from kcm.data.twemoji_pairs import write_pair_dataset
from kcm.tasks.retrieval import features, large

open_clip = pytest.importorskip("open_clip")

TINY = "kcm-test-tiny-vit"
# open_clip's ViT config format (model_configs/ViT-B-32.json), shrunk: 16×16 patches of a 32×32
# image, two 64-wide layers per tower; CLIP's BPE vocabulary and context, so the stock tokenizer works.
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
LOGIT_SCALE = 42.0  # not CLIP's init (1/0.07): the metadata must come from the checkpoint
CAPTIONS = {
    "train": [["a red square"], ["a green circle", "green round shape"], ["a blue star", "blue", "star shape"],
              ["a yellow moon"]],
    "val": [["a black cat", "cat"], ["a white dog"]],
    "test": [["an orange", "orange fruit", "citrus"], ["a purple grape"], ["a pink heart", "love"]],
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, one_torch_thread):
    """(checkpoint path, state_dict saved) of the tiny model, random weights from seed 0."""
    tmp = tmp_path_factory.mktemp("tiny_clip")
    (tmp / f"{TINY}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(tmp / f"{TINY}.json")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model(TINY, pretrained=None)
    with torch.no_grad():
        model.logit_scale.fill_(np.log(LOGIT_SCALE))
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    path = tmp / "tiny.pt"
    torch.save(state, path)
    return path, state


def write_pairs(out, captions=CAPTIONS, prefix="img"):
    rng = np.random.default_rng(0)
    splits, start = {}, 0
    for split, caps in captions.items():
        ids = [f"{prefix}{start + i:03d}" for i in range(len(caps))]
        start += len(caps)
        images = rng.integers(0, 256, size=(len(caps), 24, 24, 3), dtype=np.uint8)  # not 32²: preprocess resizes
        splits[split] = (ids, np.zeros(len(caps), dtype=np.int64), images, caps)
    write_pair_dataset(out, dataset="tiny_pairs", classes=["thing"], splits=splits, seed=0, split_rule="fixed",
                       image_rule="random pixels", source={"name": "test", "citation": "-", "obtained_from": "-",
                                                           "licence": "-"},
                       source_fingerprint="0" * 64, notes={}, deviations=[])
    return out


@pytest.fixture(scope="module")
def embedded(tiny, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("embedded")
    data = write_pairs(tmp / "pairs")
    meta = large.openclip_embeddings(data, tmp / "emb.safetensors", TINY, str(tiny[0]), batch_size=2)
    return data, tmp / "emb.safetensors", meta


def direct(checkpoint, pairs):
    """Each split's unit-norm embeddings from the model loaded the same way, encoded in one batch."""
    from PIL import Image

    model, _, preprocess = open_clip.create_model_and_transforms(TINY, pretrained=str(checkpoint))
    tokenizer = open_clip.get_tokenizer(TINY)
    model.eval()
    out = {}
    with torch.no_grad():
        for split, p in pairs.items():
            x = torch.stack([preprocess(Image.fromarray(im)) for im in p["images"]])
            out[split] = {"image": model.encode_image(x, normalize=True).numpy(),
                          "text": model.encode_text(tokenizer(p["captions"]), normalize=True).numpy()}
    return model, out


def test_rows_are_images_and_flat_captions_in_order(embedded):
    data, path, _ = embedded
    pairs = features.load_pairs(data)
    arrays, meta = features.load_arrays(path, pairs)
    for split, caps in CAPTIONS.items():
        flat = [c for texts in caps for c in texts]
        assert pairs[split]["captions"] == flat
        assert arrays[split]["image"].shape == (len(caps), TINY_CONFIG["embed_dim"])
        assert arrays[split]["text"].shape == (len(flat), TINY_CONFIG["embed_dim"])
        assert arrays[split]["image"].dtype == np.float32
        for side in ("image", "text"):
            np.testing.assert_allclose(np.linalg.norm(arrays[split][side], axis=1), 1.0, atol=1e-5)
    assert meta["ids_sha256"].keys() == {"train", "val", "test"}


def test_equals_open_clip_encoders_of_the_loaded_checkpoint(embedded, tiny):
    data, path, _ = embedded
    checkpoint, state = tiny
    pairs = features.load_pairs(data)
    arrays, _ = features.load_arrays(path, pairs)
    model, expected = direct(checkpoint, pairs)
    for k, v in model.state_dict().items():  # the checkpoint really loaded (not a fresh init)
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)
    for split in CAPTIONS:
        for side in ("image", "text"):
            # batches of 2 against one batch: equal up to float summation order
            np.testing.assert_allclose(arrays[split][side], expected[split][side], rtol=0, atol=1e-5)
    # and the rows belong to their inputs: text row j is caption j, not a shuffled one
    sim = arrays["test"]["text"] @ expected["test"]["text"].T
    assert (sim.argmax(1) == np.arange(len(sim))).all()


def test_metadata_records_logit_scale_and_model(embedded, tiny):
    _, _, meta = embedded
    assert meta["logit_scale"] == pytest.approx(LOGIT_SCALE, rel=1e-6)
    assert meta["model"] == f"open_clip {TINY} ({tiny[0]}), zero-shot"
    assert meta["quick_gelu"] is False  # a checkpoint path: the config's activation (nn.GELU)


def test_load_arrays_rejects_other_data(embedded, tmp_path):
    _, path, _ = embedded
    other = write_pairs(tmp_path / "other", prefix="other")
    with pytest.raises(ValueError, match="do not match the data"):
        features.load_arrays(path, features.load_pairs(other))


def test_openai_tag_forces_quick_gelu(tiny, tmp_path, monkeypatch):
    """open_clip 3.x builds ViT-B-32 with nn.GELU although the `openai` weights need QuickGELU:
    the function must ask for QuickGELU whenever the tag says so (checked without downloading:
    the model creation is redirected to the tiny checkpoint, keeping the keyword arguments)."""
    assert open_clip.get_model_config("ViT-B-32").get("quick_gelu", False) is False
    assert open_clip.get_pretrained_cfg("ViT-B-32", "openai")["quick_gelu"] is True
    create, calls = open_clip.create_model_and_transforms, []

    def redirected(name, pretrained=None, **kwargs):
        calls.append((name, pretrained, kwargs))
        return create(TINY, pretrained=str(tiny[0]), **kwargs)

    monkeypatch.setattr(open_clip, "create_model_and_transforms", redirected)
    data = write_pairs(tmp_path / "pairs", {"train": [["a"], ["b"]], "val": [["c"]], "test": [["d", "e"]]})
    meta = large.openclip_embeddings(data, tmp_path / "openai.safetensors", "ViT-B-32", "openai")
    assert calls[-1][:2] == ("ViT-B-32", "openai") and calls[-1][2]["force_quick_gelu"] is True
    assert meta["quick_gelu"] is True
    meta = large.openclip_embeddings(data, tmp_path / "laion.safetensors", "ViT-B-32", "laion2b_s34b_b79k")
    assert calls[-1][2]["force_quick_gelu"] is False and meta["quick_gelu"] is False
