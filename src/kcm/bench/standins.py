"""Stand-ins for the paper profile's sources and models, in their real formats, built offline.

One definition for the tests (tiny sizes) and `kcm bench rule-scaling` (real architectures with
random weights, at growing data sizes):
- CIFAR-100's official archive layout (Python-2 pickles in a tar.gz);
- MSCOCO 2014's image zips and Karpathy's dataset_coco.json zip;
- an open_clip model in a `local-dir:` folder (open_clip_config.json + weights);
- a word-level tokenizer folder for transformers checkpoints (no hub needed).
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np

# --- CIFAR-100 ---------------------------------------------------------------------------------


class Py2Pickler(pickle._Pickler):
    """Writes what cPickle protocol 2 wrote for the CIFAR files: bytes as Python-2 str opcodes
    and numpy's array constructor under its numpy-1 name."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256 else pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None):
        from numpy._core.multiarray import _reconstruct

        if obj is _reconstruct:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def tar_gz(members: dict) -> bytes:
    """A cifar-100-python/ archive; a member is bytes or a ready TarInfo (links, for the tests)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        folder = tarfile.TarInfo("cifar-100-python")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, payload in members.items():
            if isinstance(payload, tarfile.TarInfo):
                tar.addfile(payload)
                continue
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def cifar_batch(classes: list[str], n_per_class: int, rng: np.random.Generator, label: bytes) -> dict:
    """One CIFAR batch dict: `n_per_class` random 32x32 images of each class, shuffled."""
    labels = rng.permutation(np.repeat(np.arange(len(classes)), n_per_class))
    return {b"filenames": [f"{classes[c]}_s_{i:06d}.png".encode() for i, c in enumerate(labels)],
            b"batch_label": label, b"fine_labels": [int(c) for c in labels],
            b"coarse_labels": [int(c) // 2 for c in labels],
            b"data": rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)}


def cifar_meta(classes: list[str]) -> dict:
    coarse = [f"coarse_{k}".encode() for k in range((len(classes) + 1) // 2)]
    return {b"fine_label_names": [c.encode() for c in classes], b"coarse_label_names": coarse}


def cifar_archive(classes: list[str], train_per_class: int, test_per_class: int, rng: np.random.Generator) -> bytes:
    """CIFAR-100's archive layout with the given classes (random pixels)."""
    return tar_gz({"train": py2_pickle(cifar_batch(classes, train_per_class, rng, b"training batch 1 of 1")),
                   "test": py2_pickle(cifar_batch(classes, test_per_class, rng, b"testing batch 1 of 1")),
                   "meta": py2_pickle(cifar_meta(classes))})


# --- MSCOCO 2014 + Karpathy -------------------------------------------------------------------


def jpeg(seed: int, size=(40, 30)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    from PIL import Image

    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def record(folder: str, cocoid: int, split: str, n_captions: int = 5, words: int = 3) -> dict:
    """One image of Karpathy's dataset_coco.json; each caption has `words` + 2 words."""
    filler = " ".join(f"word{(cocoid * 7 + j) % 97}" for j in range(words - 3)) if words > 3 else ""
    return {"filepath": folder, "filename": f"COCO_{folder}_{cocoid:012d}.jpg", "cocoid": cocoid, "split": split,
            "imgid": cocoid, "sentids": list(range(n_captions)),
            "sentences": [{"raw": f"A photo {cocoid} number {k}. {filler}".rstrip() + " ", "tokens": [],
                           "imgid": cocoid, "sentid": k} for k in range(n_captions)]}


def zip_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2014, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def coco_sources(n_train: int, n_val: int, n_test: int, image_size=(40, 30), caption_words: int = 3) -> dict[str, bytes]:
    """The three COCO zips (train2014, val2014, karpathy): train images in train2014, val and
    test in val2014, 5 captions each."""
    first = {"train": 1000, "val": 1000 + n_train, "test": 1000 + n_train + n_val}
    records = ([record("train2014", first["train"] + i, "train", words=caption_words) for i in range(n_train)]
               + [record("val2014", first["val"] + i, "val", words=caption_words) for i in range(n_val)]
               + [record("val2014", first["test"] + i, "test", words=caption_words) for i in range(n_test)])
    zips = {}
    for name in ("train2014", "val2014"):
        zips[name] = zip_bytes({f"{name}/": b""} | {f"{r['filepath']}/{r['filename']}": jpeg(r["cocoid"], image_size)
                                                   for r in records if r["filepath"] == name})
    zips["karpathy"] = zip_bytes({"dataset_coco.json": json.dumps({"images": records, "dataset": "coco"}).encode()})
    return zips


# --- models ------------------------------------------------------------------------------------


def open_clip_folder(folder: Path, model_cfg: dict) -> str:
    """A random-weight open_clip model in a `local-dir:` folder, as open_clip loads one in any process."""
    import open_clip
    import torch

    folder.mkdir(parents=True)
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": [0.48, 0.46, 0.41], "std": [0.27, 0.26, 0.28]}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model(f"local-dir:{folder}")  # random weights: no checkpoint yet
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return f"local-dir:{folder}"


def word_level_tokenizer(folder: Path, corpus: list[str], special: list[str], chat_template: str | None = None):
    """A whitespace word-level tokenizer trained on `corpus`, saved as a transformers folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=special))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="<s>", eos_token="</s>")
    if chat_template:
        fast.chat_template = chat_template
    fast.save_pretrained(folder)
    return fast
