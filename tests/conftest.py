import os
from pathlib import Path
from types import SimpleNamespace

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


@pytest.fixture(scope="session")
def second_run(tmp_path_factory):
    """config/test.yaml's `all` once more, in a fresh folder: through workflow/profiles/slurm on
    a loopback Slurm cluster when one can start (tests/test_slurm.py checks that path), locally
    otherwise. Either way the determinism test compares it with test_config_run byte for byte,
    so the suite runs the test DAG twice, not three times."""
    from slurm_run import run_all, start_cluster
    from workflow_runner import TEST_CONFIG, snakemake

    workdir = tmp_path_factory.mktemp("second_run")
    cluster, why_not = start_cluster()
    if cluster is None:
        proc = snakemake(workdir, "all", "--cores", "2", *TEST_CONFIG, check=False)
        yield SimpleNamespace(workdir=workdir, proc=proc, out=proc.stdout + proc.stderr, via="local", why_not=why_not)
        return
    try:
        run = run_all(cluster, workdir)
        run.via, run.why_not = "slurm", ""
        yield run
    finally:
        cluster.stop()
    assert cluster.leftover_pids() == []
