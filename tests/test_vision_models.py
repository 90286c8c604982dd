"""The long-tailed vision experiment's models: CIFAR ResNet, its trainer, frozen EfficientNet-Lite0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kcm.distill import DistillWeights
from kcm.models.image_trainer import augment_batch, fit_image_classifier, predict_proba
from kcm.models.resnet_cifar import BasicBlock, ResNetCifar
from kcm.models.softmax_regression import Teachers

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def blobs(counts: list[int], size: int = 12, channels: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images whose class is where a bright square sits (corner c), on noise."""
    rng = np.random.default_rng(seed)
    corners = [(1, 1), (1, size - 5), (size - 5, 1), (size - 5, size - 5)]
    images, labels = [], []
    for c, n in enumerate(counts):
        x = rng.integers(0, 60, size=(n, size, size, channels))
        r, q = corners[c]
        x[:, r : r + 4, q : q + 4, :] += 180
        images.append(x)
        labels += [c] * n
    return np.concatenate(images).astype(np.uint8), np.asarray(labels, dtype=np.int64)


FAST = dict(weights=DistillWeights(), epochs=4, batch_size=16, lr=0.05, weight_decay=5e-4, augment=True, device="cpu")


# --- ResNetCifar ---------------------------------------------------------------------------------


def test_parameter_counts_match_he_et_al():
    # He et al. 2016 (table 6): ResNet-20 0.27M, -32 0.46M, -56 0.85M, -110 1.7M (10 classes).
    assert ResNetCifar(32, 10).n_params() == 464_154
    assert ResNetCifar(20, 10).n_params() == 269_722
    assert ResNetCifar(56, 10).n_params() == 853_018
    # LDAM/BBN's CIFAR-100 ResNet-32: the 100-way head adds 90 * 65 parameters.
    assert ResNetCifar(32, 100).n_params() == 470_004


@pytest.mark.parametrize("shape, channels", [((28, 28), 1), ((32, 32), 3)])
def test_output_shapes(shape, channels):
    model = ResNetCifar(depth=32, n_classes=7, in_channels=channels).eval()
    x = torch.rand(3, channels, *shape)
    assert model.features(x).shape == (3, 64)
    assert model(x).shape == (3, 7)
    assert ResNetCifar(depth=8, n_classes=7, in_channels=channels, width=8).features(x).shape == (3, 32)


@pytest.mark.parametrize("depth", [7, 30, 2, 33])
def test_depth_must_be_6n_plus_2(depth):
    with pytest.raises(ValueError, match="6n"):
        ResNetCifar(depth=depth)


def test_option_a_shortcut_subsamples_and_zero_pads():
    block = BasicBlock(16, 32, stride=2)
    x = torch.randn(2, 16, 8, 8)
    short = block.shortcut(x)
    assert short.shape == (2, 32, 4, 4)
    assert torch.equal(short[:, 8:24], x[:, :, ::2, ::2])
    assert short[:, :8].abs().sum() == 0 and short[:, 24:].abs().sum() == 0
    assert sum(p.numel() for p in block.parameters()) == 9 * 16 * 32 + 9 * 32 * 32 + 4 * 32


def test_wrong_channel_count_is_a_clear_error():
    with pytest.raises(ValueError, match="expected images"):
        ResNetCifar(8, 3, in_channels=1)(torch.rand(1, 3, 8, 8))


# --- trainer -------------------------------------------------------------------------------------


def test_fit_is_deterministic_learns_and_leaves_global_rng_alone():
    x, y = blobs([30, 30, 30], seed=0)
    x_test, y_test = blobs([20, 20, 20], seed=1)
    models = [ResNetCifar(8, 3, 1) for _ in range(3)]  # construction draws from the global RNG; fit must not
    state = torch.get_rng_state()
    probs = [predict_proba(fit_image_classifier(m, x, y, teachers=None, seed=3, **FAST), x_test) for m in models[:2]]
    assert torch.equal(state, torch.get_rng_state())
    assert np.array_equal(probs[0], probs[1])
    assert probs[0].dtype == np.float64 and probs[0].shape == (60, 3)
    np.testing.assert_allclose(probs[0].sum(1), 1.0, atol=1e-12)
    assert (probs[0].argmax(1) == y_test).mean() > 0.9
    other = predict_proba(fit_image_classifier(models[2], x, y, teachers=None, seed=4, **FAST), x_test)
    assert not np.array_equal(probs[0], other)


def test_fit_stores_training_statistics_on_the_model():
    x, y = blobs([9, 8], channels=3)  # 17 images, batch 16: the lone last image joins the batch before
    model = fit_image_classifier(ResNetCifar(8, 2, 3), x, y, teachers=None, seed=0, **{**FAST, "epochs": 1})
    pixels = x.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(model.input_mean.numpy(), pixels.mean(0), rtol=1e-5)
    np.testing.assert_allclose(model.input_std.numpy(), pixels.std(0, ddof=1), rtol=1e-5)


def test_teachers_enter_the_loss():
    x, y = blobs([20, 20, 20])
    wrong = (y + 1) % 3  # a confident teacher that disagrees with every label
    probs = np.eye(3)[wrong]
    fit = lambda t: predict_proba(  # noqa: E731
        fit_image_classifier(ResNetCifar(8, 3, 1), x, y, teachers=t, seed=0,
                             **{**FAST, "weights": DistillWeights(lambda_ls=5.0, eps=0.5)}), x)
    plain = fit(None)
    assert np.array_equal(fit(Teachers(large_probs=probs, large_asked=np.zeros(len(y), bool))), plain)
    taught = fit(Teachers(large_probs=probs, large_asked=np.ones(len(y), bool), hard_large=True))
    assert (taught.argmax(1) == wrong).mean() > 0.8 > (plain.argmax(1) == wrong).mean()


def test_misaligned_teachers_and_bad_images_fail_clearly():
    x, y = blobs([5, 5])
    with pytest.raises(ValueError, match="not aligned"):
        fit_image_classifier(ResNetCifar(8, 2, 1), x, y, teachers=Teachers(large_probs=np.full((9, 2), 0.5)),
                             seed=0, **FAST)
    with pytest.raises(ValueError, match="uint8"):
        fit_image_classifier(ResNetCifar(8, 2, 1), x.astype(np.float32), y, teachers=None, seed=0, **FAST)
    with pytest.raises(ValueError, match="channels"):
        fit_image_classifier(ResNetCifar(8, 2, 3), x, y, teachers=None, seed=0, **FAST)


def _offset_of(out: torch.Tensor, image: torch.Tensor, pad: int) -> tuple[int, int, bool] | None:
    padded = torch.nn.functional.pad(image, (pad, pad, pad, pad))
    h, w = image.shape[-2:]
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            window = padded[:, dy : dy + h, dx : dx + w]
            for flipped, candidate in ((False, window), (True, window.flip(-1))):
                if torch.equal(out, candidate):
                    return dy, dx, flipped
    return None


@pytest.mark.parametrize("channels", [1, 3])
def test_augmentation_is_a_padded_crop_and_flips_colour_only(channels):
    x = torch.arange(64 * channels * 10 * 10, dtype=torch.float32).reshape(64, channels, 10, 10) + 1
    out = augment_batch(x, torch.Generator().manual_seed(0), pad=2, flip=channels == 3)
    found = [_offset_of(o, i, 2) for o, i in zip(out, x)]
    assert all(f is not None for f in found)
    flips = sum(f[2] for f in found)
    assert (flips > 10) if channels == 3 else (flips == 0)
    assert len({f[:2] for f in found}) > 10  # the offsets vary
    again = augment_batch(x, torch.Generator().manual_seed(0), pad=2, flip=channels == 3)
    assert torch.equal(out, again)


# --- EfficientNet-Lite0 --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite0():
    from kcm.models.lite0 import Lite0Features

    return Lite0Features(device="cpu")


def test_every_lite0_tensor_is_mapped(lite0):
    from kcm.models.lite0 import lite0_weights_path

    source = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    src = [v for k, v in source.items() if not k.endswith("num_batches_tracked")]
    dst = [v for k, v in lite0.model.state_dict().items() if not k.endswith("num_batches_tracked")]
    assert len(src) == len(dst) == 247
    assert all(torch.equal(s, d) for s, d in zip(src, dst))


def test_lite0_mapping_rejects_other_shapes():
    from kcm.models.lite0 import map_positionally

    target = {"a.weight": torch.zeros(2, 3), "a.bias": torch.zeros(2)}
    with pytest.raises(ValueError, match="does not fit"):
        map_positionally({"x.weight": torch.zeros(3, 2), "x.bias": torch.zeros(2)}, target)
    with pytest.raises(ValueError, match="tensors"):
        map_positionally({"x.weight": torch.zeros(2, 3)}, target)


def test_lite0_features_shape_and_determinism(lite0):
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, size=(3, 28, 28, 1), dtype=np.uint8)
    colour = rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    a = lite0.encode(digits, batch_size=2, progress=False)
    assert a.shape == (3, 1280) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, lite0.encode(digits, batch_size=2, progress=False))
    np.testing.assert_allclose(lite0.encode(digits, batch_size=3, progress=False), a, rtol=1e-4, atol=1e-5)
    assert lite0.encode(colour, progress=False).shape == (2, 1280)
    # Grayscale is the same image repeated in three channels.
    np.testing.assert_array_equal(lite0.encode(np.repeat(digits, 3, axis=-1), batch_size=2, progress=False), a)
    assert lite0.encode(digits[:0], progress=False).shape == (0, 1280)
    with pytest.raises(ValueError, match="uint8"):
        lite0.encode(digits.astype(np.float32), progress=False)


def test_lite0_recognises_real_photos(lite0):
    """The weights are ImageNet-trained: real photos shipped with matplotlib and scikit-learn get
    their ImageNet class (Grace Hopper: 'military uniform', the classic torchvision check; the
    scikit-learn flower: 'daisy'). Random weights would give near-uniform, arbitrary answers."""
    from matplotlib import cbook
    from PIL import Image
    from sklearn.datasets import load_sample_image

    hopper = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    flower = load_sample_image("flower.jpg")
    probs = []
    for photo in (hopper, flower):
        logits = lite0.imagenet_logits(lite0.encode(photo[None], progress=False))
        probs.append(torch.softmax(torch.as_tensor(logits[0], dtype=torch.float64), -1))
    assert int(probs[0].argmax()) == 652 and float(probs[0][652]) > 0.3  # military uniform
    assert int(probs[1].argmax()) == 985  # daisy
