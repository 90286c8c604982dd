"""kcm.device: GPU jobs refuse a CPU fallback unless the config allows it, and say why."""

import logging
import os
import subprocess
import sys

import pytest
import torch

from kcm import device

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="asserts the behaviour of a machine without CUDA")


def test_cpu_is_used_and_logged_where_allowed(monkeypatch, caplog):
    monkeypatch.setenv(device.ENV, "1")
    device.announce.cache_clear()
    with caplog.at_level(logging.INFO, logger="kcm.device"):
        assert device.pick() == torch.device("cpu")
    assert "device: cpu" in caplog.text and "no GPU" in caplog.text
    monkeypatch.delenv(device.ENV)
    assert device.pick() == torch.device("cpu")  # outside the workflow (library, tests) CPU is allowed


def test_without_cuda_a_gpu_job_is_refused_with_the_reason_and_the_key(monkeypatch):
    monkeypatch.setenv(device.ENV, "0")
    with pytest.raises(device.NoCudaError, match="allow_cpu: true") as error:
        device.pick()
    assert device.why_no_cuda() in str(error.value)
    assert device.pick("cpu") == torch.device("cpu")  # an explicit config choice of CPU stands


def test_an_explicit_cuda_request_without_cuda_fails():
    with pytest.raises(device.NoCudaError, match="'cuda' was requested"):
        device.pick("cuda")


def test_the_lite0_features_job_refuses_before_reading_any_data(tmp_path, repo):
    """`kcm features lite0` as the paper profile runs it (KCM_ALLOW_CPU=0): it stops on the
    device before touching its input (here a folder with no data at all) and writes nothing."""
    out = tmp_path / "features.safetensors"
    env = {**os.environ, device.ENV: "0", "PYTHONPATH": str(repo / "src")}
    proc = subprocess.run([sys.executable, "-m", "kcm", "features", "lite0", "--data", str(tmp_path / "none"),
                           "--out", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "needs a GPU" in proc.stderr and "allow_cpu: true" in proc.stderr
    assert not out.exists()
