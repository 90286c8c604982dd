"""SHARe-KAN-style post-training compression of KAN heads.

Gain-Shape-Bias decomposition of every edge's spline coefficients (`gsb`), a layer-shared
k-means codebook of shapes (`codebook`), affine Int8 (`int8`), a module that runs from codebook
and indices without dense coefficients (`compressed`), bit-exact storage accounting
(`storage`) and a magnitude-pruning baseline (`prune`).
"""

from kcm.compress.compressed import (
    CompressedKAN,
    CompressionConfig,
    code_indices,
    compress_kan,
    fit_codebooks,
    fit_shared_codebooks,
    kan_of,
    reconstruct_kan,
    relative_coef_error,
    shared_codebook_compress,
)
from kcm.compress.prune import magnitude_prune
from kcm.compress.storage import compressed_storage, dense_storage, multi_head_storage

__all__ = [
    "CompressedKAN", "CompressionConfig", "code_indices", "compress_kan", "compressed_storage", "dense_storage",
    "fit_codebooks", "fit_shared_codebooks", "kan_of", "magnitude_prune", "multi_head_storage",
    "reconstruct_kan", "relative_coef_error", "shared_codebook_compress",
]
