"""Child process that loads one `.pte` and measures it: `python -m kcm.edge.probe ...`.

    python -m kcm.edge.probe --pte head.pte --input x.npy --out result.json \
        [--output-npy y.npy] --repeats 200 --warmup 20
    python -m kcm.edge.probe --baseline [--out result.json]

Run it in a fresh process (kcm.edge.measure does): RSS and its high-water mark are per process,
and a parent that has built models, exported programs or imported pandas would drown a head of
a few hundred kB. Memory comes from /proc/self/status (VmRSS, VmHWM, RssAnon, RssFile), never
from ru_maxrss, which a child inherits from a large parent. Stages, in order:

  start             interpreter only (this module imports nothing heavy at top level);
  runtime_imported  after `import torch`, `executorch.runtime` and `Runtime.get()`: the
                    baseline that the deltas sit on (the runtime imports torch; ≈ 0.5 GB with
                    the lean import, ≈ 0.75 GB with --full-import, see import_runtime);
  before_load       after reading the input; VmHWM is then reset (`5 > /proc/self/clear_refs`)
                    where the kernel allows, so the later VmHWM is the peak of load + execute;
  after_load        after `load_program(...).load_method("forward")`;
  after_execute     after the first `execute` (its output is saved for the parent);
  after_timing      after warmup + timed calls.

Threads are pinned to one (torch intra/inter-op and ExecuTorch's XNNPACK threadpool), so
latencies are comparable across runs on a shared 2-core machine: at batch 1 these heads are
microseconds of work, where a second thread only adds pool wake-ups and contention with
whatever else runs, and edge targets are judged per core anyway. Latency is wall time per
`method.execute([x])` (perf_counter_ns), Python binding overhead included (a few µs; the same
for every head), with garbage collection off while timing.

With --baseline the probe stops after `runtime_imported` (no program, no input).
Output: one JSON line on stdout, or JSON written atomically to --out.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def read_status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile of this process from /proc/self/status, in bytes."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in _FIELDS:
                number, unit = rest.split()
                assert unit == "kB", line
                values[key] = int(number) * 1024
    return values


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not permitted."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _pin_threads() -> dict[str, int]:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process (cannot be changed twice)
        pass
    threads = {"torch_threads": torch.get_num_threads()}
    try:
        from executorch.extension.pybindings import portable_lib

        portable_lib._unsafe_reset_threadpool(1)
        threads["executorch_threadpool"] = int(portable_lib._threadpool_get_thread_count())
    except (ImportError, AttributeError):
        threads["executorch_threadpool"] = -1
    return threads


def import_runtime(lean: bool = True):
    """`executorch.runtime.Runtime`, imported without the exporter when `lean`; returns
    (Runtime, mode) with mode "lean" or "full".

    executorch 1.5's `portable_lib` imports `executorch.exir._warnings` for one decorator, and
    that runs `executorch/exir/__init__.py`, i.e. the whole exporter (torch._dynamo, inductor):
    ~4 s and ~240 MB of RSS that a deployed runtime never has. A lean import puts a bare package
    object for `executorch.exir` in sys.modules while the runtime is imported (its submodule
    `_warnings` still loads from the real folder), then removes it. Same kernels and backends
    (checked: 240 operators, XNNPACK registered). If that fails, e.g. in a later executorch that
    needs more of exir, the normal import runs and mode says "full".
    """
    import types

    if lean and "executorch.exir" not in sys.modules and "executorch.runtime" not in sys.modules:
        import executorch

        stub = types.ModuleType("executorch.exir")
        stub.__path__ = [os.path.join(list(executorch.__path__)[0], "exir")]
        sys.modules["executorch.exir"] = stub
        try:
            from executorch.runtime import Runtime

            return Runtime, "lean"
        except Exception:  # Python drops the modules that failed; the normal import follows
            pass
        finally:
            if sys.modules.get("executorch.exir") is stub:
                del sys.modules["executorch.exir"]
            if getattr(executorch, "exir", None) is stub:
                delattr(executorch, "exir")
    from executorch.runtime import Runtime

    return Runtime, "full"


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of an ascending list."""
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _write_json_atomic(path: str, obj: dict) -> None:
    tmp = f"{path}.partial-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(obj, handle, sort_keys=True, allow_nan=False)
            handle.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run_probe(args: argparse.Namespace) -> dict:
    snapshots = {"start": read_status()}
    t0 = time.perf_counter()
    import numpy as np
    import torch

    Runtime, import_mode = import_runtime(lean=not args.full_import)
    threads = _pin_threads()
    runtime = Runtime.get()
    gc.collect()
    snapshots["runtime_imported"] = read_status()
    result = {
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "import_s": time.perf_counter() - t0,
        "import_mode": import_mode,
        **threads,
    }
    try:
        from importlib.metadata import version

        result["executorch"] = version("executorch")
    except Exception:  # metadata missing in a source checkout: not worth failing for
        result["executorch"] = None
    if args.baseline:
        result.update(snapshots=snapshots, rss_runtime_baseline_bytes=snapshots["runtime_imported"]["VmRSS"])
        return result

    x = torch.from_numpy(np.load(args.input)).contiguous()
    inputs = [x]
    gc.collect()
    snapshots["before_load"] = read_status()
    hwm_reset = reset_peak_rss()

    t = time.perf_counter()
    program = runtime.load_program(args.pte)
    method = program.load_method("forward")
    load_s = time.perf_counter() - t
    snapshots["after_load"] = read_status()

    t = time.perf_counter()
    outputs = method.execute(inputs)
    first_call_us = (time.perf_counter() - t) * 1e6
    snapshots["after_execute"] = read_status()
    first = outputs[0]
    if args.output_npy:
        np.save(args.output_npy, first.detach().numpy())

    for _ in range(args.warmup):
        method.execute(inputs)
    timings = []
    gc.disable()
    try:
        for _ in range(args.repeats):
            t = time.perf_counter_ns()
            method.execute(inputs)
            timings.append((time.perf_counter_ns() - t) / 1e3)
    finally:
        gc.enable()
    snapshots["after_timing"] = read_status()
    timings.sort()

    before, loaded, executed = (snapshots[k]["VmRSS"] for k in ("before_load", "after_load", "after_execute"))
    result.update(
        snapshots=snapshots,
        hwm_reset=hwm_reset,
        rss_runtime_baseline_bytes=snapshots["runtime_imported"]["VmRSS"],
        rss_before_load_bytes=before,
        rss_after_load_bytes=loaded,
        rss_after_execute_bytes=executed,
        hwm_after_execute_bytes=snapshots["after_execute"]["VmHWM"],
        delta_load_bytes=loaded - before,
        delta_execute_bytes=executed - loaded,
        # the heap part (RssAnon): VmRSS deltas also count shared-library code and the mapped
        # .pte paged in on first use (RssFile), which is most of a small head's delta
        delta_load_anon_bytes=snapshots["after_load"]["RssAnon"] - snapshots["before_load"]["RssAnon"],
        delta_execute_anon_bytes=snapshots["after_execute"]["RssAnon"] - snapshots["after_load"]["RssAnon"],
        # with hwm_reset, the peak of load + first execute above what was resident before load
        delta_peak_bytes=snapshots["after_execute"]["VmHWM"] - before if hwm_reset else None,
        load_s=load_s,
        first_call_us=first_call_us,
        latency_median_us=_percentile(timings, 0.5),
        latency_p90_us=_percentile(timings, 0.9),
        latency_min_us=timings[0],
        latency_mean_us=sum(timings) / len(timings),
        repeats=args.repeats,
        warmup=args.warmup,
        n_outputs=len(outputs),
        output_shape=list(first.shape),
        output_dtype=str(first.dtype),
    )
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kcm.edge.probe", description=__doc__.split("\n")[0])
    parser.add_argument("--pte", help="the .pte program to load")
    parser.add_argument("--input", help=".npy file with the example input (e.g. float32 (1, n_in))")
    parser.add_argument("--out", help="write the JSON result here (atomically) instead of stdout")
    parser.add_argument("--output-npy", help="save the first call's first output here (.npy)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--baseline", action="store_true", help="import the runtime, load nothing, report RSS")
    parser.add_argument(
        "--full-import", action="store_true", help="import executorch.runtime with the whole exporter (see import_runtime)"
    )
    args = parser.parse_args(argv)
    if not args.baseline and not (args.pte and args.input):
        parser.error("--pte and --input are required (or --baseline)")
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run_probe(args)
    if args.out:
        _write_json_atomic(args.out, result)
    else:
        print(json.dumps(result, sort_keys=True, allow_nan=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
