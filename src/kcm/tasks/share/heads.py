"""Dense prediction heads on the vision large model's frozen features, for SHARe-KAN.

SHARe-KAN compresses a KAN *prediction head* on a frozen backbone (ResNet-50 on VOC in the
paper). Ours: KAN heads [1280, hidden, classes] on the cached EfficientNet-Lite0 features of
the vision experiment's images (standardised with training statistics), trained full-batch with
AdamW; `heads` of them with different seeds serve as the N task heads of the multi-head study.
Beside them, the two heads the paper's "> 140x parameter inflation" can be measured against:
an MLP with the KAN's widths and a linear probe.

Spline-only by default (`base: false`, scale_base fixed at 0): with pykan's SiLU base branch our
heads learned everything through it, and zeroing every spline *raised* test accuracy (62.0 ->
66.3 % at 60 steps, lr 1e-3), so compressing the splines would have measured nothing. Without
the base branch the splines carry the function (zeroing them: 10 %, chance).

File `heads.safetensors`: `head<h>.<state_dict key>` for every KAN head, `mlp.*`, `linear.*`,
`mean`, `inv_std` (the standardisation); its "kcm" metadata holds the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from kcm import cache
from kcm.kan import KAN


@dataclass(frozen=True)
class HeadParams:
    hidden: tuple[int, ...] = (32,)
    grid_size: int = 10
    k: int = 3
    steps: int = 120
    lr: float = 0.01
    weight_decay: float = 0.0001
    heads: int = 3
    base: bool = False  # keep the SiLU base branch (False: spline-only, see below)
    grid_eps: float = 1.0  # 1: each input's grid uniform over its training range (t0 and h)
    compile: bool = True  # torch.compile the training step (4x faster here; same function)


def load_features(data_dir: Path, features: Path) -> tuple[dict, dict]:
    """Per split: Lite0 features (float32) and labels, rows in the split files' order."""
    from kcm.tasks.vision import features as vision_features
    from kcm.tasks.vision.task import load_images

    frames, _ = load_images(data_dir)
    x = {s: torch.as_tensor(vision_features.load(features, s, f["id"])) for s, f in frames.items()}
    y = {s: torch.as_tensor(f["label"].to_numpy()) for s, f in frames.items()}
    return x, y


class Standardised(nn.Module):
    """z-score with fixed statistics, then the head: what gets exported and compressed."""

    def __init__(self, head: nn.Module, mean: torch.Tensor, inv_std: torch.Tensor):
        super().__init__()
        self.head = head
        self.register_buffer("mean", mean.clone())
        self.register_buffer("inv_std", inv_std.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((x - self.mean) * self.inv_std)


def kan_head(n_in: int, n_out: int, p: HeadParams, seed: int) -> KAN:
    return KAN([n_in, *p.hidden, n_out], p.grid_size, p.k, seed=seed, grid_eps=p.grid_eps)


def mlp_head(n_in: int, n_out: int, p: HeadParams, seed: int) -> nn.Sequential:
    widths = [n_in, *p.hidden, n_out]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.SiLU()]
        return nn.Sequential(*layers[:-1])


def linear_head(n_in: int, n_out: int, seed: int) -> nn.Linear:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Linear(n_in, n_out)


def fit(head: nn.Module, x: torch.Tensor, y: torch.Tensor, p: HeadParams) -> nn.Module:
    """Full-batch AdamW for `p.steps` steps (no sampling: a fit is a function of its inputs)."""
    trainable = [q for q in head.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=p.lr, weight_decay=p.weight_decay)
    forward = torch.compile(head) if p.compile and isinstance(head, KAN) else head
    for _ in range(p.steps):
        loss = F.cross_entropy(forward(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return head.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())


def n_params(module: nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def train_heads(data_dir: Path, features: Path, out: Path, params: dict) -> dict:
    """Train `heads` KAN heads (seeds 0..heads-1), an equal-width MLP and a linear probe; write
    them and return their sizes and accuracies."""
    torch.set_num_threads(1)
    p = HeadParams(**{**params, "hidden": tuple(params["hidden"])})
    x, y = load_features(data_dir, features)
    mean, inv_std = x["train"].mean(0), 1 / x["train"].std(0).clamp_min(1e-6)
    z = {s: (v - mean) * inv_std for s, v in x.items()}
    n_in, n_out = x["train"].shape[1], int(y["train"].max()) + 1
    tensors = {"mean": mean, "inv_std": inv_std}
    summary: dict = {"params": {**params}, "n_in": n_in, "n_out": n_out, "kan": []}
    for h in range(p.heads):
        head = kan_head(n_in, n_out, p, seed=h)
        with torch.no_grad():
            head.update_grid_from_samples(z["train"])  # each input's grid spans its training range
            if not p.base:
                for layer in head.layers:
                    layer.scale_base.zero_()
                    layer.scale_base.requires_grad_(False)
        fit(head, z["train"], y["train"], p)
        tensors.update({f"head{h}.{k}": v for k, v in head.state_dict().items()})
        summary["kan"].append({"seed": h, "n_params": n_params(head), "val": accuracy(head, z["val"], y["val"]),
                               "test": accuracy(head, z["test"], y["test"])})
    for name, head in (("mlp", mlp_head(n_in, n_out, p, 0)), ("linear", linear_head(n_in, n_out, 0))):
        fit(head, z["train"], y["train"], p)
        tensors.update({f"{name}.{k}": v for k, v in head.state_dict().items()})
        summary[name] = {"n_params": n_params(head), "val": accuracy(head, z["val"], y["val"]),
                         "test": accuracy(head, z["test"], y["test"]),
                         "width": [n_in, *p.hidden, n_out] if name == "mlp" else [n_in, n_out]}
    summary["kan_width"] = [n_in, *p.hidden, n_out]
    cache.save(out, {k: v.detach().contiguous() for k, v in tensors.items()}, summary, framework="pt")
    return summary


def load_heads(path: Path) -> tuple[list[KAN], dict, torch.Tensor, torch.Tensor]:
    """(KAN heads, summary, mean, inv_std) from `train_heads`' file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        summary = cache.header(handle)
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    p = summary["params"]
    heads = []
    for h in range(len(summary["kan"])):
        head = KAN(summary["kan_width"], p["grid_size"], p["k"], seed=h)
        head.load_state_dict({k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(f"head{h}.")})
        heads.append(head.eval())
    return heads, summary, tensors["mean"], tensors["inv_std"]


def standardised_inputs(data_dir: Path, features: Path, mean: torch.Tensor, inv_std: torch.Tensor) -> tuple[dict, dict]:
    x, y = load_features(data_dir, features)
    return {s: (v - mean) * inv_std for s, v in x.items()}, y

