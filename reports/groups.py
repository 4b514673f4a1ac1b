"""Which models play which role: the plain and residual nets of a degradation figure, the plain/A/B/C
rows of a shortcut ablation (paper Table 3), and which split is the "test" one."""

from __future__ import annotations

from collections.abc import Iterable

from models.names import FAMILIES, ModelName, default_shortcut

from .runs import Run

OPTION_LABELS = ("plain", "A", "B", "C")


def model_infos(runs: Iterable[Run]) -> list[ModelName]:
    """The distinct models of ``runs``, in report order (family, depth, plain before residual)."""
    seen: dict[str, ModelName] = {}
    for run in runs:
        seen.setdefault(run.model, run.info)
    return sorted(seen.values(), key=lambda i: i.sort_key)


def method_key(info: ModelName) -> str:
    """The name without its depth: ``plain-56-nobn`` -> ``plain-nobn``, ``fixup-20`` -> ``fixup``."""
    parts = info.name.split("-")
    return "-".join([parts[0], *parts[2:]])


def families(runs: Iterable[Run]) -> list[str]:
    present = {r.family for r in runs}
    return [f for f in FAMILIES if f in present]


def degradation_sets(infos: Iterable[ModelName], family: str) -> tuple[dict[int, str], dict[int, str]]:
    """``({depth: plain model}, {depth: residual model})`` of one family.

    The residual net of a depth is ``resnet-<depth>`` (the paper's shortcut); if only explicit variants
    exist (a shortcut ablation), the variant with the paper's default option stands in for it. Only the
    paper's nets (``ModelName.paper_net``: plain and residual with BN) take these roles: ``plain-56-nobn``
    is a method of the benchmark (reports.leaderboard), not the paper's plain-56.
    """
    plain: dict[int, str] = {}
    residual: dict[int, str] = {}
    fallback: dict[int, str] = {}
    for info in infos:
        if info.family != family or not info.paper_net:
            continue
        if info.kind == "plain":
            plain.setdefault(info.depth, info.name)
        elif info.kind == "resnet":
            if not info.explicit_option:
                residual.setdefault(info.depth, info.name)
            elif info.shortcut == default_shortcut(family, info.depth):
                fallback.setdefault(info.depth, info.name)
    for depth, name in fallback.items():
        residual.setdefault(depth, name)
    return dict(sorted(plain.items())), dict(sorted(residual.items()))


def has_ablation(infos: Iterable[ModelName], experiment: str = "") -> bool:
    """A shortcut ablation is reported for experiment ``shortcut-ablation`` or when A/B/C variants exist."""
    infos = list(infos)
    return "shortcut" in experiment or any(i.explicit_option for i in infos)


def shortcut_sets(infos: Iterable[ModelName]) -> dict[tuple[str, int], dict[str, str]]:
    """``{(family, depth): {"plain": model, "A": model, "B": ..., "C": ...}}`` for the ablation.

    A depth is included when it has an explicit variant (``resnet-34-b``) or any residual net; an option
    without an explicit variant is filled by ``resnet-<depth>`` when that is the paper's option there.
    Only the paper's nets (``ModelName.paper_net``) take part.
    """
    infos = [i for i in infos if i.paper_net]
    out: dict[tuple[str, int], dict[str, str]] = {}
    for info in infos:
        key = (info.family, info.depth)
        row = out.setdefault(key, {})
        label = "plain" if info.kind == "plain" else info.shortcut.upper()
        if info.kind == "plain" or info.explicit_option:
            row[label] = info.name  # explicit names win
        else:
            row.setdefault(label, info.name)
    # keep depths with at least one residual option, ordered by family then depth, options in order
    kept = {k: {lab: v[lab] for lab in OPTION_LABELS if lab in v} for k, v in out.items()
            if any(lab in v for lab in ("A", "B", "C"))}
    return dict(sorted(kept.items(), key=lambda kv: (FAMILIES.index(kv[0][0]), kv[0][1])))


def eval_split(runs: Iterable[Run]) -> str:
    """"test" if any ok run reports a final test error, else "val" (e.g. ImageNet has no test labels)."""
    runs = list(runs)
    if any(r.ok and r.final("test") is not None for r in runs):
        return "test"
    return "val"
