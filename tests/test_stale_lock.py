"""After a hard kill, the next run stops on Snakemake's stale lock; `python -m kcm.stale_lock`
(which `make all` runs first) removes it when no Snakemake process runs in the folder, and
leaves a live run's lock alone."""

import os
import signal
import subprocess
import sys
import time

from workflow_runner import REPO, TEST_CONFIG, snakemake

from kcm.stale_lock import main, snakemake_runs

TARGET = "results/test/data/bbc/card.json"


def locks(folder):
    path = folder / ".snakemake" / "locks"
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


def test_a_hard_killed_run_leaves_a_lock_that_is_cleared_when_no_run_is_alive(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / ".cache"), TMPDIR=str(tmp_path))
    run = subprocess.Popen([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                            str(tmp_path), "--cores", "1", TARGET, *TEST_CONFIG], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while not locks(tmp_path) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert locks(tmp_path), "the run never locked its folder"
    os.killpg(run.pid, signal.SIGKILL)  # kill -9: no clean-up
    run.wait()
    again = snakemake(tmp_path, "--cores", "1", TARGET, *TEST_CONFIG, check=False)
    assert again.returncode != 0 and "cannot be locked" in again.stdout + again.stderr
    assert snakemake_runs(tmp_path) == []
    assert main(["--directory", str(tmp_path)]) == 0
    assert locks(tmp_path) == []
    snakemake(tmp_path, "--cores", "1", TARGET, *TEST_CONFIG)  # completes without manual steps
    assert (tmp_path / TARGET).is_file()


def test_a_live_runs_lock_is_left_alone(tmp_path, capsys):
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)
    (tmp_path / ".snakemake" / "locks" / "0.input.lock").write_text("x")
    # a process that looks like a Snakemake run in this folder
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "snakemake"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while live.pid not in snakemake_runs(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert main(["--directory", str(tmp_path)]) == 0
        assert locks(tmp_path) == ["0.input.lock"]
        assert f"pid {live.pid}" in capsys.readouterr().err
    finally:
        live.kill()
        live.wait()
