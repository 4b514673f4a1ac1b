"""The paper's numbers (He et al. 2015, arXiv 1512.03385), to print beside ours.

CIFAR-10 test error (%), Table 6 (option A); the plain nets are read off Fig. 6 (left), not published as
numbers, hence "approximate". ImageNet top-1 validation error (%), 10-crop testing, Tables 2 and 3.
They are shown only where the profile stands for the paper's setting: ``paper`` (CIFAR-10) for the CIFAR
family and ``imagenet`` for the ImageNet family; a quick Fashion-MNIST run has no paper number. Even there the
profile departs in ways the README lists (a 45k training split, bf16; one centre crop, not 10), and a run
can depart further (:func:`departure_text`), so a difference from the paper is not a reproduction's error alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.names import ModelName


@dataclass(frozen=True)
class PaperNumber:
    error: float
    source: str
    approximate: bool = False

    def label(self) -> str:
        return f"~{self.error:.2f}" if self.approximate else f"{self.error:.2f}"


# (family, kind, depth, shortcut) -> number
_TABLE: dict[tuple[str, str, int, str], PaperNumber] = {
    ("cifar", "resnet", 20, "a"): PaperNumber(8.75, "Table 6"),
    ("cifar", "resnet", 32, "a"): PaperNumber(7.51, "Table 6"),
    ("cifar", "resnet", 44, "a"): PaperNumber(7.17, "Table 6"),
    ("cifar", "resnet", 56, "a"): PaperNumber(6.97, "Table 6"),
    ("cifar", "resnet", 110, "a"): PaperNumber(6.43, "Table 6 (best of 5; mean 6.61 +- 0.16)"),
    ("cifar", "plain", 20, "none"): PaperNumber(9.5, "Fig. 6, read off the figure", approximate=True),
    ("cifar", "plain", 56, "none"): PaperNumber(13.5, "Fig. 6, read off the figure", approximate=True),
    ("imagenet", "plain", 18, "none"): PaperNumber(27.94, "Table 2"),
    ("imagenet", "plain", 34, "none"): PaperNumber(28.54, "Table 2"),
    ("imagenet", "resnet", 18, "a"): PaperNumber(27.88, "Table 2"),
    ("imagenet", "resnet", 34, "a"): PaperNumber(25.03, "Tables 2, 3"),
    ("imagenet", "resnet", 34, "b"): PaperNumber(24.52, "Table 3"),
    ("imagenet", "resnet", 34, "c"): PaperNumber(24.19, "Table 3"),
    ("imagenet", "resnet", 50, "b"): PaperNumber(22.85, "Table 3"),
    ("imagenet", "resnet", 101, "b"): PaperNumber(21.75, "Table 3"),
    ("imagenet", "resnet", 152, "b"): PaperNumber(21.43, "Table 3"),
}

# Which family's numbers a profile may be compared with.
PROFILE_FAMILY = {"paper": "cifar", "imagenet": "imagenet"}


def paper_number(info: ModelName, profile: str | None = None, runs=()) -> PaperNumber | None:
    """The paper's error for this model; with ``profile``, only if that profile stands for its setting, and
    none where ``runs`` (reports.runs.Run) trained another dataset than the profile's (:func:`other_dataset`)."""
    if profile is not None and PROFILE_FAMILY.get(profile) != info.family:
        return None
    if other_dataset(runs):
        return None
    return _TABLE.get((info.family, info.kind, info.depth, info.shortcut.value))


def other_dataset(runs) -> str:
    """The dataset runs trained where a SET moved them off their profile's (config.yaml's ``departures``),
    '' where none did: the paper's numbers are for the profile's dataset, so a report shows none beside them."""
    for run in runs:
        recorded = run.setting("departures")
        moved = recorded.get("dataset") if isinstance(recorded, dict) else None
        if isinstance(moved, list) and moved:
            return str(moved[0])
    return ""


def describe(profile: str) -> str:
    """One line saying what the paper column holds under ``profile`` ('' if none)."""
    fam = PROFILE_FAMILY.get(profile)
    if fam == "cifar":
        return ("paper: CIFAR-10 test error, Table 6 (ResNets, option A); plain nets approximate (~), "
                "read off Fig. 6.")
    if fam == "imagenet":
        return "paper: ImageNet top-1 validation error, 10-crop, Tables 2 and 3."
    return ""


def departure_text(runs, profile: str) -> str:
    """One sentence naming the settings in which the runs that have a paper number under ``profile`` left that
    profile's recipe (config.yaml's ``departures``, written by experiments.run: a SET of max_steps, say); ''
    where none did, or none records it (runs written before it was recorded). ``runs``: reports.runs.Run."""
    if profile not in PROFILE_FAMILY:
        return ""
    if moved := other_dataset(runs):
        return (f"No paper column: these runs trained {moved}, not the {profile} profile's dataset, which the "
                "paper's numbers are for (config.yaml's departures).")
    seen: dict[str, tuple[list, object]] = {}  # setting -> (the runs' values, the profile's)
    for run in runs:
        recorded = run.setting("departures") if paper_number(run.info, profile) else None
        for key, pair in (recorded.items() if isinstance(recorded, dict) else ()):
            if isinstance(pair, list) and len(pair) == 2:
                values = seen.setdefault(key, ([], pair[1]))[0]
                values.extend([] if pair[0] in values else [pair[0]])
    if not seen:
        return ""
    changed = ", ".join(f"{key} {' or '.join(map(str, values))} (the profile's {own})"
                        for key, (values, own) in seen.items())
    return (f"These runs left the {profile} profile's settings: {changed} (config.yaml's departures). The paper's "
            "number is for its own recipe, from which the profile departs too (README), so Δ paper measures these "
            "changes as well as the nets; it is not a reproduction's gap.")


def table3_text() -> str:
    """The paper's Table 3 shortcut options (ResNet-34, ImageNet top-1 %), as one sentence from ``_TABLE``."""
    plain = _TABLE[("imagenet", "plain", 34, "none")].error
    opts = ", ".join(f"{o.upper()} {_TABLE[('imagenet', 'resnet', 34, o)].error:.2f}" for o in "abc")
    return (f"The paper (Table 3, ImageNet top-1, 34 layers): plain {plain:.2f}; {opts}: all three far better "
            "than plain, B and C only marginally better than A.")
