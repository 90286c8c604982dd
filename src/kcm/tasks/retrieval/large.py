"""The retrieval experiment's large model: a CLIP's unit-norm embeddings of every image and
caption, either the embedded LiT CLIP (projections trained on the cached tower features, saved
and reloaded with open_clip) or a pretrained open_clip model zero-shot (paper profile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kcm import device as kcm_device
from kcm.tasks.retrieval.features import (
    load_arrays,
    load_pairs,
    save_arrays,
    split_digests,
)


def count_params(clip) -> dict[str, int]:
    """Parameters of a CLIP's image tower, text tower (projections included) and in all."""
    n = lambda module: int(sum(p.numel() for p in module.parameters()))  # noqa: E731
    return {"image": n(clip.visual), "text": n(clip.text) if hasattr(clip, "text") else n(clip.transformer),
            "total": n(clip)}


def train_custom_clip(data_dir: Path, towers: Path, model_dir: Path, out: Path, params: dict, seed: int) -> dict:
    """LiT: train the projections on the training pairs, save the model with `save_custom_clip`,
    reload it with open_clip's own API and write the embeddings of the *reloaded* model."""
    from kcm.models.custom_clip import (
        build_custom_clip,
        fit_projections,
        load_custom_clip,
        project,
        save_custom_clip,
    )

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
            "n_params": count_params(reloaded), "ids_sha256": split_digests(pairs)}
    save_arrays(tensors, meta, out)
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

    device = kcm_device.pick(device)  # before any work: a cuda request without CUDA fails here
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
            "ids_sha256": split_digests(pairs)}
    save_arrays(tensors, meta, out)
    return meta
