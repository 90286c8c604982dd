"""The small retrieval model F_s: a pixel encoder and a bag-of-character-n-grams text encoder,
each a fixed featurizer (fitted once on the training split) followed by a trained linear map
into a shared space, trained contrastively on the whole training gallery at once.

    image: resize to `pixels`² (bilinear) -> PCA-whitened to `image_dim` -> Linear -> `dim`
    text:  TF-IDF over character 2–4-grams (at most `max_ngrams`) -> Linear -> `dim`

Why this shape: training on fixed features from a seeded batch order is deterministic, and a
fit takes seconds on one core, so the closed loop can retrain F_s many times. A query costs
about a quarter of a million multiply-adds (`query_macs`), against the large model's two
CNN/transformer towers.

Loss per step, on a batch of distinct images and all their captions (CLIP's in-batch gallery):
    L = InfoNCE_t2i + InfoNCE_i2t  (an image's positive set is all its captions)
        + lambda_ls * T² * KL(p_l || p_s)  on the queries asked to the large model,
where p_l is the large model's (hinted) similarity distribution over the same in-batch gallery.
A truncated SVD of the TF-IDF (cheaper steps) lost a third of R@1 on Twemoji, so the sparse
n-grams stay.

Device: CUDA where present (`kcm.device`); the featurizers stay on the CPU and each batch moves.
At the paper's sizes (batch 1,024 images x 5 captions, 16,384 n-grams) a step is ~0.4 s on one
CPU thread, most of it the 1,024 x 5,120 contrastive loss (`kcm bench paper-scale`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import sparse
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import TfidfVectorizer
from torch import nn

from kcm import device as kcm_device
from kcm.models.contrastive import clamped_step


@dataclass(frozen=True)
class SmallRetrievalParams:
    pixels: int = 16
    image_dim: int = 64
    max_ngrams: int = 4096
    dim: int = 64
    steps: int = 300
    batch_size: int = 256
    lr: float = 0.01
    weight_decay: float = 0.1


@dataclass
class Featurizer:
    """The fixed (not trained by gradient) part of F_s, fitted on training images and captions."""

    pixels: int
    pca: PCA
    tfidf: TfidfVectorizer

    @classmethod
    def fit(cls, images: np.ndarray, captions: list[str], params: SmallRetrievalParams, seed: int = 0) -> "Featurizer":
        flat = downsample(images, params.pixels)
        # at most n - 1 components: centred data has rank n - 1, and whitening a ~0 variance explodes
        pca = PCA(n_components=min(params.image_dim, flat.shape[0] - 1, flat.shape[1]), whiten=True,
                  random_state=seed).fit(flat)
        tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True,
                                max_features=params.max_ngrams, dtype=np.float32).fit(captions)
        return cls(params.pixels, pca, tfidf)

    def images(self, images: np.ndarray) -> np.ndarray:
        return self.pca.transform(downsample(images, self.pixels)).astype(np.float32)

    def texts(self, captions: list[str]) -> sparse.csr_matrix:
        return self.tfidf.transform(captions).tocsr()

    def n_params(self) -> int:
        """Numbers the featurizer stores: PCA mean, components and variances, the idf weights."""
        return int(self.pca.mean_.size + self.pca.components_.size + self.pca.explained_variance_.size
                   + self.tfidf.idf_.size)


def downsample(images: np.ndarray, pixels: int) -> np.ndarray:
    """uint8 (N, H, W, C) -> float64 (N, pixels² · C) in [0, 1], bilinear resize."""
    out = np.empty((len(images), pixels * pixels * images.shape[-1]))
    for i, image in enumerate(images):
        small = Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((pixels, pixels), Image.Resampling.BILINEAR)
        out[i] = np.asarray(small, dtype=np.float64).ravel() / 255.0
    return out


def dense(text_x) -> torch.Tensor:
    """A float32 tensor from a dense array or a scipy sparse matrix (one batch at a time)."""
    if sparse.issparse(text_x):
        text_x = text_x.toarray()
    return torch.as_tensor(np.asarray(text_x, dtype=np.float32))


def to_model(x, model: nn.Module) -> torch.Tensor:
    """A float32 batch on the model's device."""
    return torch.as_tensor(x, dtype=torch.float32).to(next(model.parameters()).device)


class SmallRetrieval(nn.Module):
    def __init__(self, image_dim: int, text_dim: int, dim: int, seed: int):
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # seeded init, global RNG untouched
            torch.manual_seed(seed)
            self.image = nn.Linear(image_dim, dim)
            self.text = nn.Linear(text_dim, dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(10.0))))

    def text_linear(self, text_x) -> torch.Tensor:
        """The text tower's linear map. Sparse TF-IDF rows are read sparsely (an EmbeddingBag sum of
        the non-zero n-grams' weight columns): a Twemoji caption has 28 non-zero n-grams of 2,048 on
        average, so the dense product cost 73x the multiply-adds (docs/speed.md)."""
        if not sparse.issparse(text_x):
            return self.text(to_model(dense(text_x), self))
        rows = sparse.csr_matrix(text_x)
        device = self.text.weight.device
        return F.embedding_bag(
            torch.from_numpy(rows.indices.astype(np.int64)).to(device), self.text.weight.T.contiguous(),
            torch.from_numpy(rows.indptr[:-1].astype(np.int64)).to(device), mode="sum",
            per_sample_weights=torch.from_numpy(rows.data.astype(np.float32)).to(device),
        ) + self.text.bias

    def embed(self, image_x, text_x) -> tuple[torch.Tensor, torch.Tensor]:
        return F.normalize(self.image(to_model(image_x, self)), dim=-1), F.normalize(self.text_linear(text_x), dim=-1)

    @torch.no_grad()
    def similarity(self, image_x: np.ndarray, text_x, chunk: int = 4096) -> np.ndarray:
        """(n_images, n_captions) cosine similarities, float64 (captions embedded in chunks)."""
        img = F.normalize(self.image(to_model(image_x, self)), dim=-1)
        txt = torch.cat([F.normalize(self.text_linear(text_x[i:i + chunk]), dim=-1)
                         for i in range(0, text_x.shape[0], chunk)]) if text_x.shape[0] else img.new_zeros(0, img.shape[1])
        return (img @ txt.T).double().cpu().numpy()

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def positives(caption_to_image: np.ndarray, n_images: int) -> torch.Tensor:
    """(n_images, n_captions) bool: caption c belongs to image i."""
    c2i = torch.as_tensor(caption_to_image)
    return c2i[None, :] == torch.arange(n_images, device=c2i.device)[:, None]


def contrastive_loss(logits: torch.Tensor, caption_to_image: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE on (n_images, n_captions) logits; an image's positives are all its captions."""
    own = positives(caption_to_image, logits.shape[0])
    t2i = F.cross_entropy(logits.T, caption_to_image)
    i2t = -(torch.logsumexp(logits.masked_fill(~own, float("-inf")), 1) - torch.logsumexp(logits, 1)).mean()
    return (t2i + i2t) / 2


@dataclass
class RetrievalTeachers:
    """The large model F_l as teacher: its unit-norm embeddings of the training images and
    captions (the gallery), each query's hinted embedding (`e_q + alpha · e_hint`, the hint being
    F_s's top-1 item: `kcm.tasks.retrieval.ranking.hinted_scores`), its logit scale, and which queries
    were asked, per direction. Empty (no embeddings): a plain contrastive fit."""

    image: np.ndarray | None = None  # (n_images, d) gallery for t2i
    text: np.ndarray | None = None  # (n_captions, d) gallery for i2t
    query: dict | None = None  # "i2t": (n_images, d), "t2i": (n_captions, d) hinted queries
    asked: dict | None = None  # direction -> (n_queries,) bool
    scale: float = 1.0

    @property
    def empty(self) -> bool:
        return self.image is None

    def rows(self, images: np.ndarray, captions: np.ndarray) -> "RetrievalTeachers":
        """Restricted to a sub-gallery: these images and these captions (index arrays)."""
        if self.empty:
            return self
        return RetrievalTeachers(self.image[images], self.text[captions],
                                 {"i2t": self.query["i2t"][images], "t2i": self.query["t2i"][captions]},
                                 {"i2t": self.asked["i2t"][images], "t2i": self.asked["t2i"][captions]}, self.scale)

    def batch_logits(self, images: np.ndarray, captions: np.ndarray,
                     device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(i2t logits (b, c), t2i logits (c, b)) over the batch's images and captions."""
        img, txt = torch.as_tensor(self.image[images]), torch.as_tensor(self.text[captions])
        q_img, q_txt = torch.as_tensor(self.query["i2t"][images]), torch.as_tensor(self.query["t2i"][captions])
        return (self.scale * q_img @ txt.T).to(device), (self.scale * q_txt @ img.T).to(device)


def distill_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor, asked: np.ndarray,
                 temperature: float) -> torch.Tensor:
    """T² · KL(p_l || p_s) averaged over the asked query rows (0 when none is asked)."""
    mask = torch.as_tensor(asked, dtype=torch.bool).to(student_logits.device)
    if not mask.any():
        return student_logits.sum() * 0.0
    teacher = teacher_logits.float()[mask] / temperature
    student = student_logits[mask] / temperature
    kl = F.kl_div(F.log_softmax(student, 1), F.log_softmax(teacher, 1), log_target=True, reduction="batchmean")
    return kl * temperature**2


def captions_by_image(caption_to_image: np.ndarray, n_images: int) -> list[np.ndarray]:
    order = np.argsort(caption_to_image, kind="stable")
    bounds = np.searchsorted(caption_to_image[order], np.arange(n_images + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n_images)]


def fit_small_retrieval(image_x: np.ndarray, text_x, caption_to_image: np.ndarray,
                        params: SmallRetrievalParams, seed: int, teachers: RetrievalTeachers = RetrievalTeachers(),
                        lambda_ls: float = 1.0, temperature: float = 1.0) -> SmallRetrieval:
    """AdamW on batches of distinct images with all their captions, drawn from a generator
    seeded by `seed` (no false negatives in a batch; a fit is a function of its inputs)."""
    c2i = np.asarray(caption_to_image, dtype=np.int64)
    n_images = len(image_x)
    caps_of = captions_by_image(c2i, n_images)
    text_x = sparse.csr_matrix(text_x) if not sparse.issparse(text_x) else text_x.tocsr()
    device = kcm_device.pick()
    image_t = torch.as_tensor(np.asarray(image_x, dtype=np.float32)).to(device)
    model = SmallRetrieval(image_t.shape[1], text_x.shape[1], params.dim, seed).to(device)  # seeded on the CPU
    opt = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    rng = np.random.default_rng(seed)
    batch = min(params.batch_size, n_images)
    for _ in range(params.steps):
        imgs = np.sort(rng.choice(n_images, size=batch, replace=False))
        caps = np.concatenate([caps_of[i] for i in imgs])
        local = np.searchsorted(imgs, c2i[caps])  # each caption's image, as a batch index
        img, txt = model.embed(image_t[imgs], text_x[caps])
        logits = model.logit_scale.exp() * img @ txt.T
        loss = contrastive_loss(logits, torch.as_tensor(local).to(device))
        if not teachers.empty and lambda_ls > 0:
            i2t, t2i = teachers.batch_logits(imgs, caps, device)
            loss = loss + lambda_ls * (distill_term(logits, i2t, teachers.asked["i2t"][imgs], temperature)
                                       + distill_term(logits.T, t2i, teachers.asked["t2i"][caps], temperature)) / 2
        clamped_step(opt, loss, model.logit_scale)
    return model.eval()


def query_macs(featurizer: Featurizer, model: SmallRetrieval, ngrams_per_text: float) -> dict[str, int]:
    """Multiply-adds to embed one query (scoring the gallery excluded, as for the large model).
    An image: PCA projection + linear map. A text: its `ngrams_per_text` non-zero TF-IDF entries
    times the embedding width."""
    image = featurizer.pca.components_.size + model.image.weight.numel()
    text = ngrams_per_text * model.text.weight.shape[0]
    return {"image": int(image), "text": int(round(text))}
