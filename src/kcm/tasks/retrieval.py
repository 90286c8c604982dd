"""The image–text retrieval experiment's steps: a pair folder (Twemoji or MSCOCO Karpathy) ->
cached tower features -> the large model's unit-norm embeddings -> one seed of every system
and router through `kcm.retrieval_loop`.

Files (safetensors, one "kcm" metadata entry holding canonical JSON with a sha256 of each
split's ids, checked on load, as `kcm.tasks.language_features`):
    towers:      "<split>/image" (n_images, 1280) Lite0, "<split>/text" (n_captions, 384) MiniLM
    embeddings:  "<split>/image" (n_images, d), "<split>/text" (n_captions, d), unit norm;
                 metadata also holds the model's `logit_scale` (exp'd) and a description
Captions are flattened in row order: row i's captions, in its `captions` list order, then row i+1's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from kcm.data.image_folder import read_image_split
from kcm.data.split import SPLITS
from kcm.io import atomic_path, read_json
from kcm.tasks.language_features import ids_digest

N_QUERY_FEATURES = 8  # fixed query descriptors the judge reads beside the similarity shape


def load_pairs(data_dir: Path) -> dict[str, dict]:
    """Per split: frame (no image column), images (N, H, W, C), captions (flat) and caption_to_image."""
    data_dir = Path(data_dir)
    card = read_json(data_dir / "card.json")
    out = {}
    for split in SPLITS:
        frame, images = read_image_split(data_dir / f"{split}.parquet", tuple(card["image_shape"]))
        lists = [list(c) for c in frame["captions"]]
        out[split] = {
            "frame": frame, "images": images,
            "captions": [c for texts in lists for c in texts],
            "caption_to_image": np.repeat(np.arange(len(lists)), [len(c) for c in lists]).astype(np.int64),
        }
    return out


def _save(tensors: dict[str, np.ndarray], meta: dict, out: Path) -> None:
    from safetensors.numpy import save_file

    with atomic_path(out) as tmp:
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, str(tmp),
                  metadata={"kcm": json.dumps(meta, sort_keys=True)})


def load_arrays(path: Path, pairs: dict[str, dict]) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    """({split: {"image", "text"}}, metadata) after checking each split's rows against the data."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        meta = json.loads(handle.metadata()["kcm"])
        arrays = {}
        for split, p in pairs.items():
            if ids_digest(p["frame"]["id"]) != meta["ids_sha256"][split]:
                raise ValueError(f"{path}: rows of split {split!r} do not match the data (rebuild it)")
            arrays[split] = {"image": handle.get_tensor(f"{split}/image"), "text": handle.get_tensor(f"{split}/text")}
            if len(arrays[split]["text"]) != len(p["captions"]):
                raise ValueError(f"{path}: {len(arrays[split]['text'])} caption rows for split {split!r}, "
                                 f"the data has {len(p['captions'])} captions (rebuild it)")
    return arrays, meta


def _digests(pairs: dict) -> dict[str, str]:
    return {s: ids_digest(p["frame"]["id"]) for s, p in pairs.items()}


def count_params(clip) -> dict[str, int]:
    """Parameters of a CLIP's image tower, text tower (projections included) and in all."""
    n = lambda module: int(sum(p.numel() for p in module.parameters()))  # noqa: E731
    return {"image": n(clip.visual), "text": n(clip.text) if hasattr(clip, "text") else n(clip.transformer),
            "total": n(clip)}


# --- large model: towers once, projections trained, saved and reloaded with open_clip ---------


def tower_features(data_dir: Path, out: Path, batch_size: int = 16) -> None:
    """Frozen Lite0 and MiniLM features of every image and caption (the expensive part, once)."""
    from kcm.models.custom_clip import build_custom_clip, encode_towers

    torch.set_num_threads(2)  # pinned: float sums depend on it (MiniLM, as in the language features)
    pairs = load_pairs(data_dir)
    model, preprocess, tokenizer = build_custom_clip()
    tensors = {}
    for split, p in pairs.items():
        img, txt = encode_towers(model, p["images"], p["captions"], preprocess=preprocess,
                                 tokenizer=tokenizer, batch_size=batch_size)
        tensors[f"{split}/image"], tensors[f"{split}/text"] = img.numpy(), txt.numpy()
    _save(tensors, {"towers": "timm tf_efficientnet_lite0 (ImageNet) | all-MiniLM-L6-v2 (mean pooled)",
                    "ids_sha256": _digests(pairs)}, out)


def train_custom_clip(data_dir: Path, towers: Path, model_dir: Path, out: Path, params: dict, seed: int) -> dict:
    """LiT: train the projections on the training pairs, save the model with `save_custom_clip`,
    reload it with open_clip's own API and write the embeddings of the *reloaded* model."""
    from kcm.models.custom_clip import build_custom_clip, fit_projections, load_custom_clip, project, save_custom_clip

    torch.set_num_threads(1)
    pairs = load_pairs(data_dir)
    feats, _ = load_arrays(towers, pairs)
    model, _, _ = build_custom_clip(params["embed_dim"], seed=seed)
    train = feats["train"]
    fit_projections(model, train["image"], train["text"], pairs["train"]["caption_to_image"],
                    steps=params["steps"], batch_size=params["batch_size"], lr=params["lr"], seed=seed)
    save_custom_clip(model, model_dir)
    reloaded, _, _ = load_custom_clip(model_dir)
    tensors = {}
    with torch.no_grad():
        for split, f in feats.items():
            img, txt = project(reloaded, f["image"], f["text"])
            before = project(model, f["image"], f["text"])
            if not (torch.equal(img, before[0]) and torch.equal(txt, before[1])):
                raise RuntimeError("the reloaded open_clip model embeds differently from the trained one")
            tensors[f"{split}/image"], tensors[f"{split}/text"] = img.numpy(), txt.numpy()
    meta = {"model": "open_clip CustomTextCLIP: Lite0 + MiniLM towers (frozen), LiT projections",
            "logit_scale": float(reloaded.logit_scale.detach().exp()), "training": {k: params[k] for k in ("embed_dim", "steps", "batch_size", "lr")}, "seed": seed,
            "n_params": count_params(reloaded), "ids_sha256": _digests(pairs)}
    _save(tensors, meta, out)
    return meta


def openclip_embeddings(data_dir: Path, out: Path, model_name: str, pretrained: str | None,
                        batch_size: int = 64, device: str = "cpu") -> dict:
    """A pretrained open_clip model (paper profile: ViT-B-32, `openai`) embeds every image and
    caption zero-shot with its own preprocessing and tokenizer.

    QuickGELU: open_clip (3.x) builds `ViT-B-32` with nn.GELU even for the `openai` tag, whose
    weights were trained with QuickGELU, and only warns; the mismatch lowers zero-shot recall and
    OpenCLIP's published ViT-B-32/openai numbers use QuickGELU. So a known tag that says
    `quick_gelu` forces it. A checkpoint path carries no such flag: name a `-quickgelu` config
    for QuickGELU weights. The metadata records which activation the model ran with.
    """
    import open_clip
    from open_clip.transformer import QuickGELU
    from PIL import Image

    pairs = load_pairs(data_dir)
    tag = open_clip.get_pretrained_cfg(model_name, pretrained) if pretrained else {}
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name, pretrained=pretrained, device=device, force_quick_gelu=bool(tag.get("quick_gelu", False)))
    tokenizer = open_clip.get_tokenizer(model_name)
    model.eval()
    tensors = {}
    with torch.no_grad():
        # an empty split still gets (0, d) arrays, d the model's embedding width
        dim = int(model.encode_text(tokenizer(["a"]).to(device)).shape[-1])
        for split, p in pairs.items():
            imgs, txts = [], []
            for start in range(0, len(p["images"]), batch_size):
                batch = torch.stack([preprocess(Image.fromarray(im)) for im in p["images"][start:start + batch_size]])
                imgs.append(model.encode_image(batch.to(device), normalize=True).float().cpu())
            for start in range(0, len(p["captions"]), batch_size):
                tokens = tokenizer(p["captions"][start:start + batch_size]).to(device)
                txts.append(model.encode_text(tokens, normalize=True).float().cpu())
            tensors[f"{split}/image"] = torch.cat(imgs).numpy() if imgs else np.zeros((0, dim), np.float32)
            tensors[f"{split}/text"] = torch.cat(txts).numpy() if txts else np.zeros((0, dim), np.float32)
    meta = {"model": f"open_clip {model_name} ({pretrained or 'random init'}), zero-shot",
            "quick_gelu": any(isinstance(m, QuickGELU) for m in model.modules()),
            "logit_scale": float(model.logit_scale.detach().exp()), "n_params": count_params(model),
            "ids_sha256": _digests(pairs)}
    _save(tensors, meta, out)
    return meta


# --- the experiment ------------------------------------------------------------------------------


def loop_config(params: dict):
    from kcm.judges import JudgeConfig
    from kcm.models.small_retrieval import SmallRetrievalParams
    from kcm.retrieval_loop import RetrievalLoopConfig

    loop = params["loop"]
    judge = {k: tuple(v) if isinstance(v, list) else v for k, v in params["judge"].items()}
    return RetrievalLoopConfig(
        eps=loop["eps"], rounds=loop["rounds"], folds=loop["folds"], shortlist=loop["shortlist"],
        alphas=tuple(loop["alphas"]), top_m=loop["top_m"], lambda_ls=params["distill"]["lambda_ls"],
        temperature=params["distill"]["temperature"], judge=JudgeConfig(**judge),
        small=SmallRetrievalParams(**params["small"]),
    )


def build_task(data_dir: Path, embeddings: Path, cfg, pairs: dict | None = None):
    """F_s's featurizer fitted on train, every split's inputs and F_l's embeddings."""
    from sklearn.decomposition import TruncatedSVD

    from kcm.models.small_retrieval import Featurizer
    from kcm.retrieval_loop import RetrievalTask, SplitData

    pairs = pairs or load_pairs(data_dir)
    large, meta = load_arrays(embeddings, pairs)
    train = pairs["train"]
    featurizer = Featurizer.fit(train["images"], train["captions"], cfg.small)
    # the judge's fixed view of a text query: a few TF-IDF directions (images: the first PCs)
    svd = TruncatedSVD(N_QUERY_FEATURES, algorithm="arpack", random_state=0).fit(featurizer.texts(train["captions"]))
    splits = {}
    for split, p in pairs.items():
        image_x, text_x = featurizer.images(p["images"]), featurizer.texts(p["captions"])
        splits[split] = SplitData(
            image_x, text_x, p["caption_to_image"], large[split]["image"], large[split]["text"],
            {"i2t": image_x[:, :N_QUERY_FEATURES], "t2i": svd.transform(text_x).astype(np.float32)},
        )
    return RetrievalTask(splits, meta["logit_scale"]), featurizer


def run(data_dir: Path, embeddings: Path, seed: int, params: dict, out_dir: Path) -> None:
    """One seed: outputs.parquet (per test query and entry), history.json, judges/*.safetensors."""
    import pandas as pd

    from kcm.experiment import write_judges
    from kcm.io import write_json, write_parquet
    from kcm.models.small_retrieval import SmallRetrieval, query_macs
    from kcm.retrieval_loop import run_all

    torch.set_num_threads(1)  # one thread: same bytes everywhere; Snakemake runs seeds in parallel
    cfg = loop_config(params)
    pairs = load_pairs(data_dir)
    task, featurizer = build_task(data_dir, embeddings, cfg, pairs)
    columns, history, judges, tests = run_all(task, cfg, seed)
    train = task.splits["train"]
    small = SmallRetrieval(train.image_x.shape[1], train.text_x.shape[1], cfg.small.dim, seed)
    history["small"] = {"params": small.n_params(), "featurizer_params": featurizer.n_params(),
                        "macs_per_query": query_macs(featurizer, small, train.text_x.nnz / max(1, train.text_x.shape[0]))}
    test = pairs["test"]
    ids = {"i2t": test["frame"]["id"].to_numpy(),
           "t2i": np.array([f"{test['frame']['id'].iloc[i]}#{j}" for i, j in _caption_numbers(test["caption_to_image"])],
                           dtype=object)}
    frames = []
    for c in columns:
        frame = pd.DataFrame({"seed": seed, **c})
        frame.insert(3, "id", ids[c["direction"]][frame.pop("query").to_numpy()])
        frames.append(frame)
    out_dir = Path(out_dir)
    write_parquet(out_dir / "outputs.parquet", pd.concat(frames, ignore_index=True))
    write_judges(out_dir / "judges", judges, tests)
    history.update({"params": json.loads(json.dumps(params)), "seed": seed})
    write_json(out_dir / "history.json", history)


def _caption_numbers(caption_to_image: np.ndarray) -> list[tuple[int, int]]:
    """(image row, caption number within the image) for each flat caption."""
    counts: dict[int, int] = {}
    out = []
    for i in caption_to_image.tolist():
        out.append((i, counts.get(i, 0)))
        counts[i] = counts.get(i, 0) + 1
    return out
