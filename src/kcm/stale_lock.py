"""Clear the lock an interrupted Snakemake run left behind, when no run is alive in the folder.

After a hard kill (kill -9, a lost session, a power cut) Snakemake leaves .snakemake/locks/ and
refuses the next run ("Directory cannot be locked"). `make all` runs this first:

    python -m kcm.stale_lock [--directory DIR]

It lists the processes whose command line names snakemake and whose working directory is DIR
(Linux /proc). None: the lock is stale, and `snakemake --unlock` (Snakemake's own way) removes
it. Any: the lock is live, nothing is touched, and it says which process holds it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def snakemake_runs(folder: Path) -> list[int]:
    """Pids of other processes running snakemake with `folder` as their working directory."""
    folder, pids = folder.resolve(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:  # gone, or not ours to read
            continue
        if any(b"snakemake" in arg for arg in argv) and cwd == folder:
            pids.append(int(entry.name))
    return sorted(pids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", type=Path, default=Path.cwd(), help="the workflow's working directory")
    parser.add_argument("--snakefile", type=Path, default=Path(__file__).resolve().parents[2] / "Snakefile")
    args = parser.parse_args(argv)
    locks = args.directory / ".snakemake" / "locks"
    if not locks.is_dir() or not any(locks.iterdir()):
        return 0
    alive = snakemake_runs(args.directory)
    if alive:
        print(f"Snakemake's lock in {args.directory} is held by a running process (pid {', '.join(map(str, alive))}); "
              "wait for it, or stop it first.", file=sys.stderr)
        return 0
    print("Removing the lock an interrupted Snakemake run left (no Snakemake process runs here): "
          "snakemake --unlock", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(args.snakefile), "--directory", str(args.directory),
                    "--unlock"], check=True, stdout=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
