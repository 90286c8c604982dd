"""The Slurm profile, for real: config/test.yaml's whole DAG through a single-node Slurm on loopback.

The session fixture conftest.second_run starts munged, slurmctld and slurmd in a temp folder
(tests/slurm_cluster.py), runs `snakemake --profile workflow/profiles/slurm all --configfile
config/test.yaml` with the repository's Snakefile in a scratch folder (tests/slurm_run.py), and
stops the daemons at the end of the session; the same run is the determinism test's second run
(tests/test_workflow.py), so the suite builds the test DAG twice, not three times. The node advertises
twice the largest request of the profile (CPUs, memory, two GPUs as GRES backed by /dev/null
and /dev/zero), so every sbatch line of the paper profile is accepted as it stands while the
test config's tiny jobs run on this machine's CPUs. Without slurmdbd `sacct` cannot answer, so
the plugin polls `squeue` (slurm-status-command, with MinJobAge kept above the run's length).

It checks that (a) the run succeeds, (b) every job except the local `all` went through Slurm with
the profile's resources (sbatch job ids in Snakemake's log, each job's record in slurmctld:
time limit, memory, CPUs, GPUs; the job's Slurm log file), and (c) the results are the local
run's: every result file is byte-identical to the session's local run of the same config
(conftest.test_config_run, which the end-to-end tests share), and Snakemake itself finds the
DAG complete (`-n all`: nothing to be done). Skips, saying what failed and how to enable it, when
the Slurm or munge binaries are missing or the daemons do not come up (the second run is then
local).

Time, 2-core VM otherwise idle: the Slurm run 277 s (the same DAG locally with --cores 2: 175 s;
the difference is the plugin's status polling and Snakemake starting twice per job), the module
303 s. It runs the whole `all`, not a subset, so every rule's sbatch line is exercised.
"""

from __future__ import annotations

import re
from collections import Counter
from types import SimpleNamespace

import pytest
import yaml
from slurm_run import PROFILE, profile, requested
from test_config import PAPER_SOURCES
from workflow_runner import REPO, TEST_CONFIG, planned_jobs, result_files, snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm_run(second_run):
    """The session's second run of the test DAG (conftest.second_run) when it went through Slurm."""
    if second_run.via != "slurm":
        pytest.skip(second_run.why_not)
    assert second_run.proc.returncode == 0, (
        f"Slurm run failed:\n{second_run.out[-20000:]}\n{second_run.cluster.diagnostics()}")
    print(f"Slurm run of config/test.yaml `all`: {second_run.seconds:.0f} s")
    return second_run


def submissions(out: str) -> dict[str, str]:
    """Slurm job id -> rule, from the plugin's 'has been submitted' lines (the Slurm log path
    names the rule: .snakemake/slurm_logs/rule_<name>/<wildcards>/<id>.log)."""
    found = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", out)
    return {job: re.search(r"/rule_([A-Za-z0-9_]+)/", log).group(1) for job, log in found}


def minutes(limit: str) -> int:
    days, _, hms = limit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (s > 0)


def test_the_run_succeeds(slurm_run):
    assert "steps (100%) done" in slurm_run.out
    assert f"Using profile {PROFILE} " in slurm_run.out


def test_every_job_but_all_went_through_slurm_with_the_profiles_resources(slurm_run):
    planned = planned_jobs(SimpleNamespace(stdout=slurm_run.out, stderr=""))
    submitted = submissions(slurm_run.out)
    state = {job_id: slurm_run.jobs[job_id]["JobState"] for job_id in submitted}
    failed = [f"{rule} (Slurm job {job_id}: {state[job_id]}, {slurm_run.jobs[job_id]['StdOut']})"
              for job_id, rule in submitted.items() if state[job_id] != "COMPLETED"]
    assert failed == [], "failed in Slurm (the run passed thanks to the profile's retries)"
    expected = {rule: n for rule, n in planned.items() if rule != "all"}  # `all` has no action: local
    assert Counter(submitted.values()) == Counter(expected)
    run_id = re.search(r"SLURM run ID: (\S+)", slurm_run.out).group(1)
    for job_id, rule in submitted.items():
        job = slurm_run.jobs[job_id]
        assert job["JobName"] == run_id, (rule, job)
        assert job["WorkDir"] == str(slurm_run.workdir)
        want = requested(rule)
        assert minutes(job["TimeLimit"]) == want["runtime"], rule
        assert job["MinMemoryNode"] == f"{want['mem_mb']}M", rule
        if "cpus_per_task" in want:
            assert int(job["NumCPUs"]) == want["cpus_per_task"], rule
        gpus = want.get("gpu", 0)
        tres = job.get("TresPerJob", "")  # 22.05: gres:gpu:1; later releases: gres/gpu:1
        assert bool(re.search(rf"gres[:/]gpu:{gpus}\b", tres)) == bool(gpus), (rule, tres)
        log = slurm_run.workdir / ".snakemake" / "slurm_logs" / f"rule_{rule}"
        assert any(p.name == f"{job_id}.log" for p in log.rglob("*.log")), (rule, job_id)
    # Slurm's own record of finished jobs agrees.
    completed = re.findall(r"JobId=(\d+) .*?Name=(\S+) JobState=(\S+)", slurm_run.cluster.jobcomp.read_text())
    assert {j for j, name, state in completed if name == run_id and state == "COMPLETED"} == set(submitted)


def test_results_are_those_of_a_local_run(slurm_run, test_config_run):
    # Every registered output: Snakemake, on the local machine, finds nothing left to do.
    again = snakemake(slurm_run.workdir, "all", "-n", *TEST_CONFIG)
    assert "Nothing to be done" in again.stdout + again.stderr
    # Every result file is byte-identical to the local run's (bar timings and the edge runtime
    # measurements): same data, models, metrics, tables and figures.
    on_slurm, local = result_files(slurm_run.workdir), result_files(test_config_run)
    assert sorted(on_slurm) == sorted(local)
    assert [name for name in local if on_slurm[name] != local[name]] == []


def test_profile_names_only_rules_of_the_workflow(tmp_path):
    """Runs without Slurm: a misspelt rule in set-resources would be silently ignored."""
    rules = set(snakemake(tmp_path, "--list-rules").stdout.split())
    assert set(profile()["set-resources"]) <= rules
    filled = tmp_path / "sources.yaml"  # what a user writes in first (test_config.PAPER_SOURCES)
    filled.write_text(yaml.safe_dump(PAPER_SOURCES))
    dry = snakemake(tmp_path, "all", "-n", "--profile", str(PROFILE), "--configfile", str(REPO / "config" / "paper.yaml"),
                    str(filled))
    assert "large_language_a" in planned_jobs(dry)
