"""`kcm bench workflow`: what it copies, and how it sums Snakemake's per-job benchmarks."""

import subprocess

import pandas as pd
import pytest

from kcm.bench import workflow

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path, wall, rss, cpu):
    path.write_text(HEADER + f"{wall}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_seeds_of_a_rule_are_one_group_with_summed_cpu_and_the_largest_rss(tmp_path):
    _bench(tmp_path / "experiment_vision_seed0.tsv", 10.0, 100.0, 4.0)
    _bench(tmp_path / "experiment_vision_seed1.tsv", 30.0, 300.0, 6.0)
    _bench(tmp_path / "table_calls.tsv", 2.0, 50.0, 1.5)
    table = workflow.by_group(workflow.read_benchmarks(tmp_path))
    assert table["rule"].tolist() == ["experiment_vision", "table_calls"]  # most CPU first
    vision = table.iloc[0]
    assert (vision["jobs"], vision["cpu_s"], vision["wall_min_s"], vision["wall_max_s"], vision["max_rss_mb"]) == (
        2, 10.0, 10.0, 30.0, 300.0)
    text = workflow.render(table, 100.0, "now", 8, pd.DataFrame({"rule": ["experiment_vision"], "cpu_s": [25.0]}))
    assert "12 CPU-s in all" in text and "2.17x fewer now" in text  # 25 before vs 11.5 now
    with pytest.raises(SystemExit, match="no benchmark files"):
        workflow.read_benchmarks(tmp_path / "empty")


def test_the_copy_is_what_a_clone_has_with_uncommitted_edits_and_no_results(tmp_path):
    repo = tmp_path / "repo"
    (repo / "results" / "embedded").mkdir(parents=True)
    (repo / "src").mkdir()
    git = lambda *args: subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (repo / ".gitignore").write_text(".venv/\n")
    (repo / "src" / "a.py").write_text("committed\n")
    (repo / "results" / "embedded" / "table.md").write_text("old result\n")
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x")
    (repo / "src" / "a.py").write_text("edited\n")
    (repo / "src" / "new.py").write_text("untracked\n")
    (repo / ".venv").mkdir()
    (repo / ".venv" / "big").write_text("ignored\n")
    dest = tmp_path / "copy"
    workflow.copy_checkout(repo, dest)
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == [".gitignore", "src/a.py", "src/new.py"]
    assert (dest / "src" / "a.py").read_text() == "edited\n"
