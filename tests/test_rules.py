"""Rules and the CLI: every job's code inputs cover what its command runs, every job logs and
benchmarks, and editing a module reruns exactly the jobs that import it (dry runs, seconds).

The imports are found here independently of kcm.codedeps (which the rules use): a handler's
imports from its bytecode (`dis`), their closure with the standard library's `modulefinder`.
"""

import dis
import modulefinder
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
from workflow_dag import jobs
from workflow_runner import REPO, planned_jobs, snakemake

from kcm import codedeps
from kcm.cli import build_parser
from kcm.report.registry import TARGETS

SRC = REPO / "src"
CONFIGS = {"embedded": (), "test": (REPO / "config" / "test.yaml",)}


def is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def handler_imports(code) -> set[str]:
    """The kcm modules a function (or module code object, nested functions included) imports
    (`import a.b`, `from a import b`)."""
    found, current = set(), None
    code = getattr(code, "__code__", code)
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            found |= handler_imports(const)
    for ins in dis.get_instructions(code):
        if ins.opname == "IMPORT_NAME":
            current = ins.argval
            found.add(current)
        elif ins.opname == "IMPORT_FROM":
            found.add(f"{current}.{ins.argval}")
    return {name for name in found if name.startswith("kcm.") and is_module(name)}


def dispatched(shell: str) -> set[str]:
    """The modules a rule's `python -m kcm ...` command runs: its handler's imports, and for
    `render` the target's module (the registry imports it by name)."""
    argv = shlex.split(shell)
    argv = argv[: argv.index(">")]
    assert argv[:3] == ["python", "-m", "kcm"], shell
    args = build_parser().parse_args(argv[3:])
    modules = handler_imports(args.func)
    if args.verb == "render":
        modules.add(TARGETS[args.name].module)
    assert modules, f"{shell}: its handler imports no kcm module"
    return modules


def imported_files(*modules: str) -> set[str]:
    finder = modulefinder.ModuleFinder(path=[str(SRC)])
    for module in modules:
        finder.import_hook(module)
    return {m.__file__ for name, m in finder.modules.items() if name.split(".")[0] == "kcm"}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def dag(request, tmp_path_factory) -> list[dict]:
    return jobs(REPO / "Snakefile", tmp_path_factory.mktemp(request.param), *CONFIGS[request.param])


def test_every_jobs_code_inputs_cover_the_modules_its_command_runs(dag):
    checked = set()
    for job in dag:
        if job["shell"] is None:  # `all`, and config_snapshot (a run: block writing JSON)
            continue
        needed = imported_files(*dispatched(job["shell"]))
        missing = sorted(str(Path(f).relative_to(SRC)) for f in needed - set(job["code"]))
        assert missing == [], f"{job['rule']}: code inputs miss {missing}"
        checked.add(job["rule"])
    assert {"experiment_language", "share_edge", "metrics_retrieval", "table_calls"} <= checked


def test_every_job_has_a_log_and_a_benchmark(dag):
    for job in dag:
        if job["rule"] != "all":
            assert job["log"] and job["benchmark"], job["rule"]


def test_every_registered_target_is_a_rule_writing_its_outputs(dag):
    written = {job["rule"]: job["outputs"] for job in dag}
    results = str(Path(written["config_snapshot"][0]).parent)
    assert {name: sorted(written[name]) for name in TARGETS} == {
        name: sorted(t.outputs(results).values()) for name, t in TARGETS.items()}


def test_closure_follows_imports_everywhere_and_leaves_the_cli_out(tmp_path):
    pkg = tmp_path / "kcm"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "cli.py": "from kcm import entry\n",
        "entry.py": "from kcm.sub import near\n\ndef f():\n    from . import late\n",
        "late.py": "import kcm.cli\nLAZY = 'kcm.sub.lazy'\nNOT_A_MODULE = f'kcm.sub.{LAZY}'\n",
        "sub/__init__.py": "",
        "sub/near.py": "from .far import x\n",
        "sub/far.py": "x = 1\n",
        "sub/lazy.py": "",
        "unused.py": "",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    assert codedeps.closure("kcm.entry", src=tmp_path) == [
        "kcm", "kcm.entry", "kcm.late", "kcm.sub", "kcm.sub.far", "kcm.sub.lazy", "kcm.sub.near"]


def module_code(module: str):
    path = SRC.joinpath(*module.split(".")).with_suffix(".py")
    return compile(path.read_text(), str(path), "exec")


def copy_workflow(dest: Path) -> Path:
    for name in ("src", "workflow", "config"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Snakefile", "environment.yml"):
        shutil.copy2(REPO / name, dest / name)
    return dest / "Snakefile"


def test_editing_a_module_tables_import_indirectly_plans_exactly_those_tables(tmp_path):
    """In a copy of the repository, with every output of the test DAG in place and up to date
    (--touch), an edit to kcm.report.deviations (imported through kcm.report.common) plans
    exactly the render jobs whose modules import it, and nothing upstream."""
    module = "kcm.report.deviations"
    snakefile = copy_workflow(tmp_path / "repo")
    work, config = tmp_path / "work", ("--configfile", str(tmp_path / "repo" / "config" / "test.yaml"))
    for job in jobs(snakefile, work, tmp_path / "repo" / "config" / "test.yaml"):
        for path in job["outputs"]:
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).touch()
        for path in job["directories"]:
            (work / path).mkdir(parents=True, exist_ok=True)
    snakemake(work, "all", "--touch", "--cores", "1", *config, snakefile=snakefile)
    done = snakemake(work, "all", "-n", *config, snakefile=snakefile)
    assert "Nothing to be done" in done.stdout + done.stderr

    edited = SRC / "kcm" / "report" / "deviations.py"
    importers = {name for name, t in TARGETS.items()
                 if str(edited) in imported_files(t.module, "kcm.report.registry")}
    direct = {name for name, t in TARGETS.items() if module in handler_imports(module_code(t.module))}
    assert importers and direct == set() and len(importers) < len(TARGETS)  # indirect, some tables only
    copied = tmp_path / "repo" / "src" / "kcm" / "report" / "deviations.py"
    copied.write_text(copied.read_text() + "\n# an edit\n")
    planned = planned_jobs(snakemake(work, "all", "-n", *config, snakefile=snakefile))
    assert planned == {**{name: 1 for name in importers}, "all": 1}


def test_a_local_run_never_hands_out_more_cores_than_the_machine_has(tmp_path):
    """`--cores 8` on a 2-core machine ran 8 CPU-bound jobs at once, each slowed by the others'
    cache traffic (up to 1.7x the CPU seconds, docs/speed.md): the scheduler gets the machine's
    cores, and says so. Fewer cores than the machine's are left as asked."""
    machine = len(os.sched_getaffinity(0))
    # a real run of the one instant job (a dry run does not report the scheduler's cores)
    capped = snakemake(tmp_path / "capped", "config_snapshot", "--cores", str(machine + 6))
    out = capped.stdout + capped.stderr
    assert f"--cores {machine + 6} capped at this machine's {machine} cores" in out
    assert re.search(rf"Provided cores: {machine}\b", out)
    asked = snakemake(tmp_path / "asked", "config_snapshot", "--cores", "1")
    out = asked.stdout + asked.stderr
    assert "capped at" not in out and re.search(r"Provided cores: 1\b", out)
