"""A single-node Slurm cluster on loopback, for tests (Debian's slurm-wlm 22.05 and munge).

munged, slurmctld and slurmd run in the foreground as children of the test process, with every
file (key, sockets, config, state, spool, logs) in one temporary folder, and are stopped by pid
afterwards. The node may advertise more CPUs, memory and GPUs than the machine has
(SlurmdParameters=config_overrides, GPUs as GRES backed by /dev/null): Slurm then accepts the
paper-scale requests of workflow/profiles/slurm unchanged while the tiny test jobs run on
whatever the machine has. There is no slurmdbd, so `sacct` cannot answer; job status comes from
`squeue`, which keeps finished jobs for MinJobAge seconds.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = (
    "install Debian's packages: apt-get install slurmctld slurmd slurm-client munge "
    "(.ci/run installs them before `make test`)"
)
# Binary -> Debian package. Looked up on PATH only (root's PATH includes /usr/sbin).
BINARIES = {
    "munged": "munge",
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sbatch": "slurm-client",
    "srun": "slurm-client",
    "squeue": "slurm-client",
    "sinfo": "slurm-client",
    "scontrol": "slurm-client",
    "scancel": "slurm-client",
}
# Unix sockets (munge's, slurmstepd's in the spool folder) must fit sun_path (108 bytes).
MAX_SOCKET_DIR = 60


class SlurmUnavailable(RuntimeError):
    """Why the loopback cluster could not be started, and how to enable it."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class LoopbackSlurm:
    """Start with start(), stop with stop(); env holds what clients need (SLURM_CONF)."""

    def __init__(self, cpus: int, mem_mb: int, gpus: int = 0, min_job_age: int = 300):
        self.cpus, self.mem_mb, self.gpus, self.min_job_age = cpus, mem_mb, gpus, min_job_age
        self.root: Path | None = None
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.env: dict[str, str] = {}

    # -- paths ---------------------------------------------------------------------------------
    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def jobcomp(self) -> Path:
        """One line per finished job (jobcomp/filetxt): JobId, JobName, JobState, ..."""
        return self.root / "log" / "jobcomp.txt"

    @property
    def ctld_log(self) -> Path:
        return self.root / "log" / "slurmctld.log"

    # -- start ---------------------------------------------------------------------------------
    def start(self) -> None:
        missing = [f"{b} ({pkg})" for b, pkg in BINARIES.items() if shutil.which(b) is None]
        if missing:
            raise SlurmUnavailable(f"not found on PATH: {', '.join(missing)}; {INSTALL_HINT}")
        if os.geteuid() != 0:
            raise SlurmUnavailable("slurmd must run as root to launch jobs; run the test suite as root")
        base = tempfile.gettempdir()
        if len(base) > MAX_SOCKET_DIR - 20:  # a deep TMPDIR: socket paths would not fit
            base = "/tmp"
        self.root = Path(tempfile.mkdtemp(prefix="kcm-slurm-", dir=base))
        self.root.chmod(0o755)
        try:
            self._start_munge()
            self._write_config()
            self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
            self._wait("slurmctld answering `scontrol ping`", self._ctld_up, 30)
            self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", "loopback"])
            self._wait("the node idle in `sinfo`", self._node_idle, 60)
        except BaseException:
            self.stop()
            raise

    def _start_munge(self) -> None:
        munge = self.root / "munge"
        munge.mkdir(mode=0o755)
        key = munge / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        self.socket = munge / "munge.socket"
        self._spawn("munged", [
            "munged", "--foreground", "--force", f"--key-file={key}", f"--socket={self.socket}",
            f"--pid-file={munge / 'munged.pid'}", f"--seed-file={munge / 'munged.seed'}",
            f"--log-file={self.root / 'log' / 'munged.log'}",
        ])
        self._wait("munged's socket", self.socket.exists, 15)

    def _write_config(self) -> None:
        for d in ("state", "spool"):
            (self.root / d).mkdir()
        gres = ""
        if self.gpus:
            # One GRES line per GPU; slurmd drops GPUs without a device file, any file will do.
            files = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"][: self.gpus]
            if len(files) < self.gpus:
                raise ValueError("at most 5 fake GPUs")
            (self.root / "gres.conf").write_text("".join(f"Name=gpu File={f}\n" for f in files))
            gres = f" Gres=gpu:{self.gpus}"
        log = self.root / "log"
        self.conf.write_text(f"""\
ClusterName=kcmtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
StateSaveLocation={self.root / 'state'}
SlurmdSpoolDir={self.root / 'spool'}
SlurmctldPidFile={self.root / 'slurmctld.pid'}
SlurmdPidFile={self.root / 'slurmd.pid'}
SlurmctldLogFile={log / 'slurmctld.log'}
SlurmdLogFile={log / 'slurmd.log'}
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups, no systemd: plain process tracking, no CPU binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
# No slurmdbd: sacct has nothing to read; squeue reports jobs until MinJobAge after they end.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp}
MinJobAge={self.min_job_age}
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
# The node advertises what the profile asks for, not what the machine has.
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=loopback NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb}{gres} State=UNKNOWN
PartitionName=debug Nodes=loopback Default=YES MaxTime=INFINITE State=UP
""")
        # The jobstep plugin removes every SLURM_* variable but a few, SLURM_CONF included, from
        # the environment of the `srun` it runs inside each job; on a cluster srun then reads
        # /etc/slurm/slurm.conf. Here a shim first on PATH puts SLURM_CONF back.
        shims = self.root / "bin"
        shims.mkdir()
        srun = shims / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {shutil.which("srun")} "$@"\n')
        srun.chmod(0o755)
        self.env = {"SLURM_CONF": str(self.conf), "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}"}

    def _spawn(self, name: str, argv: list[str]) -> None:
        (self.root / "log").mkdir(exist_ok=True)
        out = open(self.root / "log" / f"{name}.out", "wb")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=dict(os.environ, **self.env), cwd=self.root, start_new_session=True)
        out.close()
        self.procs.append((name, proc))

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, **self.env))

    def _ctld_up(self) -> bool:
        return "UP" in self.run("scontrol", "ping").stdout

    def _node_idle(self) -> bool:
        return self.run("sinfo", "--noheader", "--format=%T").stdout.strip() == "idle"

    def _wait(self, what: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise SlurmUnavailable(f"{name} exited with status {proc.returncode} while waiting for "
                                           f"{what}:\n{self.diagnostics()}")
            if ready():
                return
            time.sleep(0.5)
        raise SlurmUnavailable(f"timed out after {timeout:.0f} s waiting for {what}:\n{self.diagnostics()}")

    def diagnostics(self) -> str:
        parts = []
        for name in ("munged", "slurmctld", "slurmd"):
            for suffix in (".out", ".log"):
                path = self.root / "log" / f"{name}{suffix}"
                if path.exists():
                    parts.append(f"--- {path.name}\n{_tail(path)}")
        return "\n".join(parts)

    # -- queries -------------------------------------------------------------------------------
    def squeue(self, *args: str) -> str:
        return self.run("squeue", *args).stdout

    # -- stop ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel every job, stop the daemons (newest first), then any process left with this
        cluster's SLURM_CONF in its environment (slurmstepd, job steps): all by pid."""
        if self.root is None:
            return
        if any(name == "slurmctld" and proc.poll() is None for name, proc in self.procs):
            try:
                ids = self.squeue("--noheader", "--format=%i").split()
                if ids:
                    self.run("scancel", *ids)
                    deadline = time.monotonic() + 20
                    while self.squeue("--noheader", "--states=PENDING,RUNNING,COMPLETING",
                                      "--format=%i").strip() and time.monotonic() < deadline:
                        time.sleep(0.5)
            except (OSError, subprocess.SubprocessError):
                pass
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = []
        for pid in self.leftover_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def leftover_pids(self) -> list[int]:
        """Processes whose environment names this cluster's config (they can only come from it)."""
        if not self.env:
            return []
        marker = f"SLURM_CONF={self.env['SLURM_CONF']}".encode() + b"\0"
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes() + b"\0"
            except OSError:
                continue
            if b"\0" + marker in b"\0" + environ:
                pids.append(int(entry.name))
        return pids
