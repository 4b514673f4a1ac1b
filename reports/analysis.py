"""Analyses of trained nets (issue 7): layer responses (paper Fig. 7) and gradient norms during training.

Read from the run folders, written there by the experiments package:

* ``layer_responses.csv`` (``layer,name,std``; ``make layer-responses``): the std of each 3x3 layer's
  response on the test set, after BN, before the ReLU and before the addition, pooled over images,
  channels and positions (see experiments/responses.py).
* ``grad_norms.csv`` (``step,layer,name,norm``; RunConfig.grad_norm_every): the L2 norm of each weighted
  layer's weight gradient every K iterations; ``step`` = optimizer updates before that gradient (see
  experiments/gradients.py).

Registered here:

* ``fig-layer-responses-<family>`` (paper Fig. 7): std against layer index in the net's order (top) and
  the same stds sorted by magnitude, descending (bottom); plain dashed, residual solid, one colour per
  depth; the mean over a model's ok seeds.
* ``fig-grad-norms-<family>``: the deepest plain/residual pair of the family with gradient norms (plain-56
  vs resnet-56, plain-50 vs resnet-50, ...): heatmaps of log10 norm over (iteration, layer), one shared
  colour scale, and the norm against layer index at the first and last recorded iteration.
* Sections "Layer responses (paper Fig. 7)" and "Gradient norms (paper section 4.1)": the numbers behind
  the figures and whether they agree with the paper, computed from the data.

Every function returns None when no run has its file, so a report without these analyses renders as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .figures import FAMILY_TITLES, PALETTE
from .groups import degradation_sets, families, model_infos
from .registry import ReportContext, register_figure, register_section
from .runs import Run
from .summary import markdown_table

RESPONSES = "layer_responses.csv"
GRAD_NORMS = "grad_norms.csv"
LOG_AXIS_SPAN = 100.0  # Fig. 7's std axes turn logarithmic when the stds span more than this factor
VANISH_RATIO = 1e-3  # a layer whose gradient norm is below this fraction of the largest layer's "vanishes"
PLAIN_STYLE = {"ls": "--", "lw": 1.4}
RESIDUAL_STYLE = {"ls": "-", "lw": 1.6}


# ----------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------
def _read(path, columns: dict[str, str]) -> pd.DataFrame | None:
    """A CSV with at least ``columns`` (name -> "int" | "float" | "str"); None if absent or unusable.

    Rows whose numbers do not parse are dropped (a hand-edited or damaged file still gives the rest).
    """
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    if not set(columns) <= set(frame.columns):
        return None
    frame = frame[list(columns)].copy()
    for name, kind in columns.items():
        if kind != "str":
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
    frame = frame.dropna(subset=[c for c, k in columns.items() if k == "int"])
    for name, kind in columns.items():
        if kind == "int":
            frame[name] = frame[name].astype(int)
    return frame if not frame.empty else None


def _runs_with(ctx: ReportContext, filename: str, columns: dict[str, str]) -> tuple[dict[str, list], list[str]]:
    """``({model: [(run, frame), ...]}, [unreadable files])`` over the ok runs that have ``filename``."""
    found: dict[str, list[tuple[Run, pd.DataFrame]]] = {}
    bad = []
    for run in ctx.ok_runs():
        path = run.path / filename
        frame = _read(path, columns)
        if frame is not None:
            found.setdefault(run.model, []).append((run, frame))
        elif path.exists():
            bad.append(f"{run.rel}/{filename}")
    return found, bad


@dataclass
class Net:
    """One model's curve: its name, family, depth, kind (plain | resnet) and the per-layer values."""

    model: str
    family: str
    depth: int
    kind: str
    seeds: int
    values: pd.DataFrame  # responses: layer, name, std;  gradients: step, layer, name, log10


def response_nets(ctx: ReportContext) -> tuple[list[Net], list[str]]:
    """Each model's layer responses, the mean std per layer over its ok seeds (seeds must agree on layers)."""
    found, bad = _runs_with(ctx, RESPONSES, {"layer": "int", "name": "str", "std": "float"})
    nets = []
    for info in model_infos(ctx.runs):
        if info.name not in found or info.depth is None or info.kind not in ("plain", "resnet"):
            continue
        frames = [f.sort_values("layer") for _, f in found[info.name]]
        layers = frames[0][["layer", "name"]].reset_index(drop=True)
        same = [f for f in frames if f["layer"].tolist() == layers["layer"].tolist()]
        mean = np.mean([f["std"].to_numpy(dtype=float) for f in same], axis=0)
        nets.append(Net(info.name, info.family, info.depth, info.kind, len(same), layers.assign(std=mean)))
    return nets, bad


def gradient_nets(ctx: ReportContext) -> tuple[list[Net], list[str]]:
    """Each model's gradient norms as log10, the mean over its ok seeds at the steps they share."""
    found, bad = _runs_with(ctx, GRAD_NORMS, {"step": "int", "layer": "int", "name": "str", "norm": "float"})
    nets = []
    for info in model_infos(ctx.runs):
        if info.name not in found or info.depth is None or info.kind not in ("plain", "resnet"):
            continue
        parts = []
        for run, frame in found[info.name]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log = np.log10(frame["norm"].to_numpy(dtype=float))
            parts.append(frame[["step", "layer", "name"]].assign(log10=log, seed=run.seed)
                         .drop_duplicates(["step", "layer"], keep="last"))
        both = pd.concat(parts, ignore_index=True)
        shared = both.groupby(["step", "layer"])["seed"].transform("nunique") == len(parts)
        table = (both[shared].groupby(["step", "layer"], as_index=False)
                 .agg(name=("name", "first"), log10=("log10", "mean")))
        if not table.empty:
            nets.append(Net(info.name, info.family, info.depth, info.kind, len(parts), table))
    return nets, bad


def _title(ctx: ReportContext, what: str) -> str:
    data = f", {ctx.dataset}" if ctx.dataset else ""
    return f"{what} — {ctx.experiment} / {ctx.profile}{data}"


def _seeds(net: Net) -> str:
    return f" (n={net.seeds})" if net.seeds > 1 else ""


def _depth_colours(nets: list[Net]) -> dict[int, str]:
    """One colour per depth, by rank: the shallowest blue, the next red, ... (as the degradation figures)."""
    return {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(sorted({n.depth for n in nets}))}


def _order(nets: list[Net]) -> list[Net]:
    return sorted(nets, key=lambda n: (n.depth, n.kind != "plain"))


# ----------------------------------------------------------------------------------------------------
# Paper Fig. 7: layer responses
# ----------------------------------------------------------------------------------------------------
@register_figure("layer-responses", order=40)
def layer_response_figures(ctx: ReportContext):
    nets, _ = response_nets(ctx)
    figs = {}
    for family in families(ctx.runs):
        members = _order([n for n in nets if n.family == family])
        if not members:
            continue
        colour = _depth_colours(members)
        fig = Figure(figsize=(10, 7.2), layout="constrained")
        top, bottom = fig.subplots(2, 1)
        for net in members:
            style = PLAIN_STYLE if net.kind == "plain" else RESIDUAL_STYLE
            stds = net.values["std"].to_numpy(dtype=float)
            label = f"{net.model}{_seeds(net)}"
            top.plot(net.values["layer"], stds, color=colour[net.depth], label=label, **style)
            ranked = np.sort(stds[np.isfinite(stds)])[::-1]
            bottom.plot(np.arange(1, len(ranked) + 1), ranked, color=colour[net.depth], label=label, **style)
        top.set_xlabel("layer index (original, in the net's order)")
        bottom.set_xlabel("layer index (sorted by magnitude)")
        values = np.concatenate([n.values["std"].to_numpy(dtype=float) for n in members])
        values = values[np.isfinite(values) & (values > 0)]
        # The paper's axes are linear; a net whose responses span orders of magnitude (a barely trained
        # deep plain net) would flatten every other line to zero, so then the axes turn logarithmic.
        log = values.size > 0 and values.max() / values.min() > LOG_AXIS_SPAN
        for ax in (top, bottom):
            ax.set_ylabel("std" + (" (log scale)" if log else ""))
            if log:
                ax.set_yscale("log")
            else:
                ax.set_ylim(bottom=0)
            ax.set_xlim(left=0)
            ax.grid(True, alpha=0.3, lw=0.5)
        top.legend(fontsize=8, ncols=2, loc="upper right", handlelength=3.0, framealpha=0.85)
        fig.suptitle(_title(ctx, f"Layer responses (paper Fig. 7), {FAMILY_TITLES.get(family, family)}"),
                     fontsize=12)
        fig.supxlabel("std of each 3x3 layer's response on the test set, after BN, before the ReLU and the "
                      "addition, over all images, channels and positions\ndashed: plain, solid: residual, one "
                      "colour per depth; mean over ok seeds", fontsize=8, color="0.3")
        figs[f"layer-responses-{family}"] = fig
    return figs or None


@register_section("Layer responses (paper Fig. 7)", order=40)
def layer_response_section(ctx: ReportContext):
    nets, bad = response_nets(ctx)
    if not nets and not bad:
        return None
    parts = ["Std of each 3x3 layer's response on the test set (after BN, before the ReLU and the addition), "
             "pooled over images, channels and positions; per net the mean over layers, the median and the "
             "largest. The paper (Fig. 7): \"ResNets have generally smaller responses than their plain "
             "counterparts\", and \"the deeper ResNet has smaller magnitudes of responses\"."]
    for family in families(ctx.runs):
        members = _order([n for n in nets if n.family == family])
        if not members:
            continue
        rows = []
        for n in members:
            s = n.values["std"].to_numpy(dtype=float)
            rows.append([n.model, str(len(s)), _num(np.nanmean(s)), _num(np.nanmedian(s)), _num(np.nanmax(s)),
                         str(n.seeds)])
        parts += ["", f"**{FAMILY_TITLES.get(family, family)}.**", "",
                  markdown_table(["net", "layers", "mean std", "median std", "max std", "seeds"], rows), ""]
        parts += [f"- {line}" for line in _response_checks(members)]
    if bad:
        parts += ["", f"Unreadable {RESPONSES} (left out): " + ", ".join(f"`{b}`" for b in bad) + "."]
    return "\n".join(parts)


def _num(x: float) -> str:
    return f"{x:.3f}" if 1e-3 <= abs(x) < 1e4 else f"{x:.3g}"


def _response_checks(members: list[Net]) -> list[str]:
    """The paper's two claims, checked: residual < plain at each depth with both; deeper residual smaller."""
    lines = []
    by = {(n.kind, n.depth): n for n in members}
    for depth in sorted({n.depth for n in members}):
        plain, res = by.get(("plain", depth)), by.get(("resnet", depth))
        if plain is None or res is None:
            continue
        p, r = plain.values["std"].to_numpy(dtype=float), res.values["std"].to_numpy(dtype=float)
        smaller = int(np.sum(r < p)) if len(p) == len(r) else None
        verdict = "smaller, as in the paper" if np.nanmean(r) < np.nanmean(p) else "not smaller, unlike the paper"
        per_layer = f"; smaller at {smaller} of {len(r)} layers" if smaller is not None else ""
        lines.append(f"depth {depth}: {res.model}'s responses are {verdict} (mean std {_num(np.nanmean(r))} vs "
                     f"{_num(np.nanmean(p))} for {plain.model}{per_layer}).")
    residual = [n for n in members if n.kind == "resnet"]
    if len(residual) >= 2:
        means = [float(np.nanmean(n.values["std"].to_numpy(dtype=float))) for n in residual]
        chain = ", ".join(f"{n.model} {_num(m)}" for n, m in zip(residual, means))
        falling = all(a > b for a, b in zip(means, means[1:]))
        lines.append(f"residual nets by depth (mean std): {chain}: "
                     + ("smaller in deeper nets, as in the paper." if falling else
                        "not smaller at every step in depth, unlike the paper."))
    return lines


# ----------------------------------------------------------------------------------------------------
# Gradient norms
# ----------------------------------------------------------------------------------------------------
def gradient_pairs(ctx: ReportContext) -> list[tuple[str, Net, Net]]:
    """Per family, the deepest depth whose plain and residual nets (degradation roles) both have norms."""
    nets, _ = gradient_nets(ctx)
    by_model = {n.model: n for n in nets}
    pairs = []
    infos = model_infos(ctx.runs)
    for family in families(ctx.runs):
        plain, residual = degradation_sets(infos, family)
        depths = [d for d in plain if d in residual and plain[d] in by_model and residual[d] in by_model]
        if depths:
            d = max(depths)
            pairs.append((family, by_model[plain[d]], by_model[residual[d]]))
    return pairs


def _wide(net: Net) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, layers, log10 norms[layer, step])`` of a net."""
    wide = net.values.pivot(index="layer", columns="step", values="log10").sort_index().sort_index(axis=1)
    return wide.columns.to_numpy(dtype=float), wide.index.to_numpy(dtype=float), wide.to_numpy(dtype=float)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (half-way between neighbours), for pcolormesh."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[centres[0] - (mid[0] - centres[0])], mid, [centres[-1] + (centres[-1] - mid[-1])]])


@register_figure("grad-norms", order=45)
def gradient_figures(ctx: ReportContext):
    figs = {}
    for family, plain, res in gradient_pairs(ctx):
        fig = Figure(figsize=(13, 4.8), layout="constrained")
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.15]})
        finite = np.concatenate([n.values["log10"].to_numpy(dtype=float) for n in (plain, res)])
        finite = finite[np.isfinite(finite)]
        norm = Normalize(vmin=float(finite.min()), vmax=float(finite.max())) if finite.size else Normalize(-1, 0)
        mesh = None
        for ax, net in ((axes[0], plain), (axes[1], res)):
            steps, layers, values = _wide(net)
            mesh = ax.pcolormesh(_edges(steps), _edges(layers), np.ma.masked_invalid(values), norm=norm,
                                 cmap="viridis", shading="flat")
            ax.set_title(f"{net.model}{_seeds(net)}", fontsize=10)
            if len(steps) <= 8:
                ax.set_xticks(steps)  # few records: label each
            ax.set_xlabel("iteration (updates before the gradient)")
            ax.set_ylim(layers.max() + 0.5, layers.min() - 0.5)  # layer 1 (input side) at the top
        axes[0].set_ylabel("weighted layer (1 = first conv, last = fc)")
        fig.colorbar(mesh, ax=axes[:2], label="log10 ‖∂L/∂W‖₂", shrink=0.9, pad=0.02)
        fig.get_layout_engine().set(wspace=0.06)  # room between the colour bar and the line panel

        ax = axes[2]
        for net, colour in ((plain, "#d62728"), (res, "#1f77b4")):
            steps, layers, values = _wide(net)
            style = PLAIN_STYLE if net.kind == "plain" else RESIDUAL_STYLE
            for j, alpha, lw in ((0, 0.45, 1.0), (len(steps) - 1, 1.0, style["lw"] + 0.4)):
                ax.plot(layers, 10 ** values[:, j], color=colour, ls=style["ls"], lw=lw, alpha=alpha)
        ax.set_yscale("log")
        ax.set_xlabel("weighted layer")
        ax.set_ylabel("‖∂L/∂W‖₂ (log scale)")
        ax.grid(True, which="major", alpha=0.3, lw=0.5)
        first, last = (lambda n: _wide(n)[0][0]), (lambda n: _wide(n)[0][-1])
        ax.legend(handles=[
            Line2D([], [], color="#d62728", **PLAIN_STYLE, label=plain.model),
            Line2D([], [], color="#1f77b4", **RESIDUAL_STYLE, label=res.model),
            Line2D([], [], color="0.4", alpha=0.45, lw=1.0, label=f"iteration {int(first(plain))}"),
            Line2D([], [], color="0.4", lw=2.0, label=f"iteration {int(last(plain))}"
                   + (f" / {int(last(res))}" if last(res) != last(plain) else "")),
        ], fontsize=8, loc="best", framealpha=0.85)
        ax.set_title("norm by layer, first and last record", fontsize=10)
        fig.suptitle(_title(ctx, f"Gradient norms by layer during training, {FAMILY_TITLES.get(family, family)}"),
                     fontsize=12)
        fig.supxlabel("L2 norm of each weighted layer's weight gradient (loss only, before weight decay), "
                      "every K iterations; projection shortcuts excluded; log10 mean over ok seeds",
                      fontsize=8, color="0.3")
        figs[f"grad-norms-{family}"] = fig
    return figs or None


@dataclass
class GradientFacts:
    """What the gradient-norm section states about one net."""

    model: str
    step: int  # the iteration of the first five fields: the last one its pair shares
    first_over_last: float  # first weighted layer's norm / the last's (the fc)
    min_over_max: float  # smallest layer norm / largest
    weakest: str  # the layer with the smallest norm
    below: int  # layers below VANISH_RATIO x the largest
    layers: int
    worst_ratio: float  # the smallest min/max over every recorded iteration ...
    worst_step: int  # ... at this iteration,
    worst_weak: int  # where this layer is the weakest
    worst_strong: int  # and this one the strongest

    @property
    def trend(self) -> str:
        """Where the norms go on their way back to the input at the worst iteration: "shrink" or "grow"."""
        return "shrink" if self.worst_weak < self.worst_strong else "grow"


def gradient_facts(net: Net, step: int) -> GradientFacts:
    steps, layers, values = _wide(net)
    names = net.values.drop_duplicates("layer").set_index("layer")["name"]
    norms = 10 ** values  # [layer, step]
    col = norms[:, int(np.flatnonzero(steps == step)[0])]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.nanmin(norms, axis=0) / np.nanmax(norms, axis=0)
    ratios = np.where(np.isfinite(ratios), ratios, np.inf)  # a step with no finite norm decides nothing
    k = int(np.argmin(ratios))
    weakest = int(layers[int(np.nanargmin(col))])
    return GradientFacts(
        net.model, int(step), float(col[0] / col[-1]), float(np.nanmin(col) / np.nanmax(col)),
        f"{weakest} ({names.get(weakest, '?')})", int(np.sum(col < VANISH_RATIO * np.nanmax(col))), len(layers),
        float(ratios[k]), int(steps[k]), int(layers[int(np.nanargmin(norms[:, k]))]),
        int(layers[int(np.nanargmax(norms[:, k]))]))


def gradient_verdict(p: GradientFacts, r: GradientFacts) -> str:
    """Do the plain net's norms agree with the paper's "healthy norms", vanish, or explode? And the residual's."""
    where = (f"at iteration {p.worst_step}, layer {p.worst_weak}'s norm is {p.worst_ratio:.2g} of layer "
             f"{p.worst_strong}'s")
    if p.worst_ratio >= VANISH_RATIO:
        text = (f"**Agrees with the paper:** {p.model}'s gradients do not vanish: no layer's norm falls below "
                f"{VANISH_RATIO:g} of the largest at any recorded iteration (the extreme: {where}).")
    elif p.trend == "shrink":
        text = (f"**Disagrees with the paper:** {p.model}'s gradients vanish on their way to the input: {where}, "
                f"below {VANISH_RATIO:g}.")
    else:
        text = (f"**Agrees that they do not vanish, but they are not healthy either:** {p.model}'s gradients grow "
                f"on their way to the input ({where}, below {VANISH_RATIO:g}): they explode rather than vanish.")
    return (f"{text} For comparison, {r.model}'s extreme is {r.worst_ratio:.2g} (iteration {r.worst_step}). "
            f"First-to-last ratio at iteration {p.step}: {p.first_over_last:.3g} ({p.model}) vs "
            f"{r.first_over_last:.3g} ({r.model}).")


@register_section("Gradient norms (paper section 4.1)", order=45)
def gradient_section(ctx: ReportContext):
    pairs = gradient_pairs(ctx)
    _, bad = gradient_nets(ctx)
    if not pairs and not bad:
        return None
    parts = ["The paper argues that the plain nets' optimisation difficulty \"is unlikely to be caused by "
             "vanishing gradients\": with BN, \"the backward propagated gradients exhibit healthy norms\". "
             "Below, for the deepest plain/residual pair of each family, at the last iteration both recorded: "
             "the first weighted layer's gradient norm over the last's (the fc), the smallest layer's over the "
             f"largest's, and how many layers are below {VANISH_RATIO:g} of the largest; then the smallest "
             "min/max ratio over every recorded iteration (iteration = updates before the gradient)."]
    for family, plain, res in pairs:
        common = sorted(set(plain.values["step"]) & set(res.values["step"]))
        if not common:
            parts += ["", f"{plain.model} and {res.model} share no recorded iteration."]
            continue
        facts = [gradient_facts(n, common[-1]) for n in (plain, res)]
        rows = [[f.model, str(f.step), f"{f.first_over_last:.3g}", f"{f.min_over_max:.3g}", f.weakest,
                 f"{f.below} of {f.layers}", f"{f.worst_ratio:.3g} (it. {f.worst_step})"] for f in facts]
        parts += ["", f"**{FAMILY_TITLES.get(family, family)}.**", "",
                  markdown_table(["net", "iteration", "first / last", "min / max", "weakest layer",
                                  f"< {VANISH_RATIO:g} max", "worst min / max"], rows), "",
                  gradient_verdict(*facts)]
    if bad:
        parts += ["", f"Unreadable {GRAD_NORMS} (left out): " + ", ".join(f"`{b}`" for b in bad) + "."]
    return "\n".join(parts)
