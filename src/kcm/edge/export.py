"""Export a head to an ExecuTorch `.pte` and read its deterministic memory figures.

Pipeline (ExecuTorch 1.5): torch.export.export -> exir.to_edge_transform_and_lower with the
XNNPACK partitioner -> .to_executorch() -> .buffer (the `.pte` bytes). When XNNPACK lowering
fails the portable (non-delegated) path is tried and the failure is recorded, never hidden.

Memory figures that do not depend on the machine:
  * `pte_bytes`: the file size (weights live inside it: in XNNPACK delegate blobs or in the
    program's constant segment);
  * `planned_arena_bytes`: the memory-planned activation arena, the sum of the execution plan's
    `non_const_buffer_sizes` without slot 0 (reserved by ExecuTorch, always 0). Delegates
    allocate their own scratch at load time, which this does not count (measure.py sees it).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import torch

from kcm.io import atomic_path

XNNPACK_BACKEND_ID = "XnnpackBackend"


class EdgeExportError(RuntimeError):
    """A module could not be exported to an ExecuTorch program; the message names the fix."""


def _module_name(module: torch.nn.Module) -> str:
    cls = type(module)
    return f"{cls.__name__} ({cls.__module__}.{cls.__qualname__})"


def _fix_hint(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    if "data-dependent" in text or "GuardOnDataDependent" in text or "UserError" in type(error).__name__:
        return (
            "forward() branches on tensor values (Python if/while on a tensor, .item(), .tolist()); "
            "express it with tensor ops (torch.where, masks, clamp) so torch.export can trace one graph"
        )
    match = re.search(r"aten\.(\w+)\.\w+ is not in Core ATen opset", text)
    if match:
        return (
            f"aten::{match.group(1)} is not a core ATen op and has no ExecuTorch kernel; rewrite that "
            "step with core ops (comparisons and arithmetic instead of bucketize/searchsorted, as "
            "kcm.kan's B-spline basis does)"
        )
    return (
        "make forward(x) traceable by torch.export for a (1, n_in) float32 input with core ATen "
        "ops only (see kcm.kan for an exportable KAN)"
    )


def _export_error(module: torch.nn.Module, stage: str, error: BaseException, extra: str = "") -> EdgeExportError:
    first_line = (str(error).strip().splitlines() or [""])[0][:300]
    return EdgeExportError(
        f"cannot export {_module_name(module)} to ExecuTorch: {stage} failed with "
        f"{type(error).__name__}: {first_line}{extra}. Fix: {_fix_hint(error)}."
    )


def _xnnpack_partitioner():
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )

    return XnnpackPartitioner()


def _lower(exported: torch.export.ExportedProgram, xnnpack: bool):
    from executorch.exir import to_edge_transform_and_lower

    partitioner = [_xnnpack_partitioner()] if xnnpack else None
    return to_edge_transform_and_lower(exported, partitioner=partitioner).to_executorch()


def _op_name(op) -> str:
    """`name.overload` as the runtime's operator registry spells it (no overload: bare name)."""
    return f"{op.name}.{op.overload}" if op.overload else op.name


def runtime_operator_names() -> set[str]:
    """Operators with a kernel in the installed ExecuTorch runtime (e.g. `aten::mm.out`)."""
    from executorch.runtime import Runtime

    return set(Runtime.get().operator_registry.operator_names)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def export_pte(
    module: torch.nn.Module,
    example_input: torch.Tensor,
    path: str | os.PathLike,
    *,
    xnnpack: bool = True,
    check_kernels: bool = True,
    fold_constants: bool = False,
) -> dict[str, Any]:
    """Export `module` (one (1, n_in) float32 tensor in, one tensor out) to a `.pte` at `path`.

    The module is traced in eval mode under no_grad (its training flag is restored after).
    With `xnnpack`, XNNPACK lowering is tried first and the portable path is the fallback
    (`lowering` and `xnnpack_error` say which ran). With `check_kernels`, every operator left
    outside a delegate must have a kernel in the installed runtime, so a program that would
    only fail at load time fails here, with the op names. The file is written atomically: on any
    failure nothing (not even a partial file) appears at `path`, and an existing file is kept.

    `fold_constants` runs ExecuTorch's constant_prop_pass first: every computation on weights
    alone is done once at export and stored as its result. Off by default, because it changes
    what is measured, both ways. Our dense KAN builds its spline matrix from coef * scale_sp *
    mask on every call (KAN([1280, 96, 10], G=10): a 6.4 MB temporary in the planned arena and
    a portable, non-delegated matmul; folded: 0.27 MB of arena and an XNNPACK matmul), while a
    compressed head (codebook + indices, low-rank factors) would be decompressed at export into
    a dense constant, which erases its compression from the `.pte`. Fold a dense head for a
    deployment figure; never fold a head whose compression lives in its weight computation.

    Returns pte_bytes, planned_arena_bytes, planned_buffer_sizes (slot 0 included), delegated
    (any XNNPACK delegate in the program), delegates, lowering ("xnnpack": the partitioner ran;
    "portable": not requested or it failed), xnnpack_error, ops (sorted non-delegated operators,
    as `name.overload`), sha256, path, fold_constants, state_bytes (the module's parameters and
    buffers), input_shape, output_shape.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a torch.Tensor, got {type(example_input).__name__}")
    path = Path(path)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            try:
                output = module(example_input)
                exported = torch.export.export(module, (example_input,))
            except Exception as error:
                raise _export_error(module, "torch.export", error) from error
            if fold_constants:
                from executorch.exir.passes.constant_prop_pass import constant_prop_pass

                exported = constant_prop_pass(exported)
            xnnpack_error = None
            program = None
            lowering = "portable"
            if xnnpack:
                try:
                    program = _lower(exported, xnnpack=True)
                    lowering = "xnnpack"
                except Exception as error:  # recorded in the result; the portable path is next
                    xnnpack_error = f"{type(error).__name__}: {str(error).strip()[:1000]}"
            if program is None:
                try:
                    program = _lower(exported, xnnpack=False)
                except Exception as error:
                    extra = ""
                    if xnnpack_error:
                        extra = f" (XNNPACK lowering failed first: {xnnpack_error.splitlines()[0][:200]})"
                    raise _export_error(module, "ExecuTorch lowering (to_edge/to_executorch)", error, extra) from error
    finally:
        module.train(was_training)

    plan = program.executorch_program.execution_plan[0]
    ops = sorted({_op_name(op) for op in plan.operators})
    if check_kernels:
        missing = sorted(set(ops) - runtime_operator_names())
        if missing:
            raise EdgeExportError(
                f"cannot export {_module_name(module)} to ExecuTorch: operators {missing} have no "
                "kernel in the installed runtime and were not delegated. Fix: rewrite those steps "
                "with ops listed in executorch.runtime.Runtime.get().operator_registry.operator_names "
                "(or ones XNNPACK delegates), or pass check_kernels=False for a runtime that has them."
            )
    delegates = sorted(d.id for d in plan.delegates)
    buffer = program.buffer
    sizes = [int(s) for s in plan.non_const_buffer_sizes]
    with atomic_path(path) as tmp:
        _write_bytes(tmp, buffer)
    return {
        "path": str(path),
        "pte_bytes": len(buffer),
        "sha256": hashlib.sha256(buffer).hexdigest(),
        "planned_arena_bytes": sum(sizes[1:]),
        "planned_buffer_sizes": sizes,
        "delegated": XNNPACK_BACKEND_ID in delegates,
        "delegates": delegates,
        "lowering": lowering,
        "fold_constants": fold_constants,
        "xnnpack_error": xnnpack_error,
        "ops": ops,
        "state_bytes": sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers())),
        "input_shape": list(example_input.shape),
        "output_shape": list(output.shape),
    }
