import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session", autouse=True)
def offline_env():
    """Tests never touch the network or write caches outside their temp folders."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a shared 2-core machine: two torch threads are many times slower than one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def server():
    """A loopback HTTP server (tests/loopback_server.py), shut down after the module."""
    from loopback_server import Server

    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture(scope="session")
def test_config_run(tmp_path_factory) -> Path:
    """config/test.yaml's whole `all`, run locally once per session (the end-to-end tests read
    it; the Slurm test compares its own run with it byte for byte)."""
    from workflow_runner import TEST_CONFIG, snakemake

    workdir = tmp_path_factory.mktemp("run")
    snakemake(workdir, "all", "--cores", "2", *TEST_CONFIG)
    return workdir
