"""Item 4: images/s and peak memory of every model of a matrix, with the profile's width and stem.

Peak memory is the growth of the peak RSS on a CPU (approximate) and ``torch.cuda.max_memory_allocated``
on a GPU (the training set on the device included).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from experiments.config import load_matrices

from .paths import overrides, stop_if_interrupted, variant_label

if TYPE_CHECKING:
    from .run import Session


def section_models(s: Session) -> None:
    """One Lightning-path run per model (--models, default the degradation matrix); eager on a GPU."""
    if 4 not in s.items or s.over_budget("item 4"):
        return
    plan, kind = s.plan, s.kind
    names = s.args.models.split() if s.args.models else load_matrices()["degradation"]
    cfg = dataclasses.replace(s.base, compile=False) if kind == "cuda" else s.base
    print(f"-- item 4: {len(names)} models, {s.shape_txt}, {variant_label(cfg, kind)} "
          f"({plan.model_steps} steps, {plan.model_warmup} warm-up)", flush=True)
    for name in names:
        if s.over_budget(f"item 4 {name}"):
            break
        try:
            m = s.runner.lightning(name, cfg, s.tensors, plan.model_steps, plan.model_warmup)
        except Exception as exc:  # noqa: BLE001
            stop_if_interrupted(exc)
            s.table.add(4, "FAILED", model=name, note=f"{type(exc).__name__}: {exc}"[:300])
            continue
        w = overrides(name, cfg).get("width", "")
        s.table.add(4, "throughput and peak memory", model=name, variant=variant_label(cfg, kind), a=m,
                    note=("peak RSS growth" if kind == "cpu" else "max_memory_allocated") + (f"; width {w}" if w else ""))
