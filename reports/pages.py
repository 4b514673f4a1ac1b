"""Text pages of report.pdf: the report's markdown as monospace text, wrapped and paginated.

Kept this simple on purpose (issue 13: a page of text in a monospace font is enough): the words are
summary.md's and the first page's as they are; ``**``, backticks and a paragraph's enclosing ``_`` are
dropped, ``#`` headings set in bold, pipe tables aligned (as their ``|---:|`` row says), everything else
wrapped with :mod:`textwrap`. One font size per call: the base size, or smaller so that the widest table
line fits the page, but not below READABLE_SIZE while wrapping a table's cells (at their spaces, the widest
columns first) can make it fit instead.
"""

from __future__ import annotations

import itertools
import math
import re
import textwrap
from collections.abc import Callable

from matplotlib.figure import Figure

A4_PORTRAIT = (8.27, 11.69)  # inches
A4_LANDSCAPE = (11.69, 8.27)
MARGIN = 0.6  # inches
MONO_ADVANCE = 0.602  # DejaVu Sans Mono's advance width, in em
LINE_HEIGHT = 1.35  # in em
MIN_SIZE = 4.0  # points: a table wider than this allows runs off the page
READABLE_SIZE = 7.0  # points: below this a wide table's cells wrap instead of the whole page shrinking
# A figure drawn among the text lines (render_pages' ``panel``): (marker line, height in inches, draw(fig, rect)).
Panel = tuple[str, float, Callable[[Figure, list[float]], None]]
PANEL_SLOT = object()
KEEP_LINES = 6  # a markdown line wrapped onto at most this many lines stays on one page
NUMBER = re.compile(r"[+\-−]?\d[^A-Za-z]*(\(n=\d+\))?")  # a table cell that is a number does not wrap


def _cells(row: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row.strip()[1:-1])]


def _lines(cell: str, width: int) -> list[str]:
    return textwrap.wrap(cell, width, break_long_words=False, break_on_hyphens=False) or [""] if len(cell) > width \
        else [cell]


def _narrowed(body: list[list[str]], widths: list[int], width: int) -> list[int]:
    """Column widths that fit ``width`` characters (two between columns), cells wrapping at their spaces:
    one character at a time from the column whose narrowing adds the fewest lines to the table (the widest
    among equals), none below its longest word; the first column (the rows' names) and a number's cell (an
    interval, a mean ± std, a rate) kept whole; as close as those allow."""
    floors = [max((len(c[i]) if i == 0 or NUMBER.fullmatch(c[i]) else max(map(len, c[i].split()), default=0)
                   for c in body), default=0) for i in range(len(widths))]
    widths = list(widths)
    counts: dict[tuple[int, int], list[int]] = {}  # (column, width) -> its cells' line counts, per row

    def count(i: int, w: int) -> list[int]:
        if (i, w) not in counts:
            counts[i, w] = [len(_lines(c[i], w)) for c in body]
        return counts[i, w]

    def total(ws: list[int]) -> int:
        return sum(max(row) for row in zip(*(count(i, w) for i, w in enumerate(ws))))

    while sum(widths) + 2 * (len(widths) - 1) > width:
        candidates = [i for i, (w, f) in enumerate(zip(widths, floors)) if w > f]
        if not candidates:
            break
        best = min(candidates, key=lambda i: (total(widths[:i] + [widths[i] - 1] + widths[i + 1:]), -widths[i]))
        widths[best] -= 1
    return widths


def _table(rows: list[str], width: int | None = None) -> list[str]:
    """Pipe table lines -> aligned lines: columns padded, right-aligned where the ``|---:|`` row says so; that
    row becomes a rule of dashes. ``width``: where the table is wider, cells wrap at their spaces onto more
    lines of their row (see :func:`_narrowed`)."""
    cells = [_cells(r) for r in rows]
    rule = next((i for i, c in enumerate(cells) if all(re.fullmatch(r":?-+:?", x) for x in c)), None)
    right = [x.endswith(":") for x in cells[rule]] if rule is not None else []
    body = [c for i, c in enumerate(cells) if i != rule]
    columns = max(map(len, body))
    body = [c + [""] * (columns - len(c)) for c in body]
    widths = [max(len(c[i]) for c in body) for i in range(columns)]
    if width is not None:
        widths = _narrowed(body, widths, width)
    out = []
    for c in body:
        parts = [_lines(x, w) for x, w in zip(c, widths)]
        for k in range(max(map(len, parts))):
            out.append("  ".join((p[k] if k < len(p) else "").rjust(w) if i < len(right) and right[i] else
                                 (p[k] if k < len(p) else "").ljust(w)
                                 for i, (p, w) in enumerate(zip(parts, widths))).rstrip())
    if rule is not None:
        out.insert(rule, "  ".join("-" * w for w in widths))
    return out


def text_lines(markdown: str, width: int | None = None) -> list[tuple[str, bool]]:
    """The markdown's lines, markers dropped and tables aligned (their cells wrapped to ``width`` characters
    where given, :func:`_table`), prose not yet wrapped: ``(line, in a table)``."""
    lines = [re.sub(r"^_(.+)_$", r"\1", line.rstrip()) for line in markdown.replace("**", "").replace("`", "")
             .split("\n")]
    out: list[tuple[str, bool]] = []
    for is_table, block in itertools.groupby(lines, key=lambda line: line.lstrip().startswith("|")):
        out += [(line, is_table) for line in (_table(list(block), width) if is_table else block)]
    return out


def _wrap(line: str, width: int) -> list[str]:
    """Prose wrapped at spaces; a word longer than a line (a run folder's path) is broken, not run off the page."""
    indent = re.match(r"\s*(- )?", line).end()  # a list item's continuation lines align with its text
    return textwrap.wrap(line, width, subsequent_indent=" " * indent, break_long_words=True,
                         break_on_hyphens=False) or [""]


def _table_spans(lines: list[tuple[str, bool]]) -> dict[int, tuple[int, list[str]]]:
    """Each table among ``lines`` (``(line, in a table)``): its first line's index -> (the index after its last
    line, its header: the lines down to its rule of dashes; none where it has no rule)."""
    spans = {}
    k = 0
    while k < len(lines):
        if not lines[k][1]:
            k += 1
            continue
        end = next((j for j in range(k, len(lines)) if not lines[j][1]), len(lines))
        rule = next((j for j in range(k, end) if re.fullmatch(r"-+( +-+)*", lines[j][0])), None)
        spans[k] = (end, [line for line, _ in lines[k:rule + 1]] if rule is not None else [])
        k = end
    return spans


def _lead_in(lines: list[tuple[str, bool]], k: int, most: int = 12) -> int:
    """Where the table starting at line ``k`` begins with what introduces it: the paragraph just above it (at
    most ``most`` lines, one blank line between) and a heading just above that; ``k`` where there is none."""
    j = k - 1 if k and lines[k - 1][0] == "" else k
    top = j
    while top > 0 and lines[top - 1][0] != "" and not lines[top - 1][1] and j - top < most:
        top -= 1
    if top == j or (top > 0 and lines[top - 1][0] != ""):  # no paragraph, or one longer than ``most`` lines
        return k
    if top >= 2 and lines[top - 1][0] == "" and lines[top - 2][0].startswith("#"):
        top -= 2
    return top


def render_pages(markdown: str, pagesize: tuple[float, float] = A4_PORTRAIT, size: float = 9.0,
                 footer: str = "", panel: Panel | None = None) -> list[Figure]:
    """Set ``markdown`` in monospace on as many pages (Figures of ``pagesize`` inches) as it needs.

    ``size``: the font size in points, lowered to fit the widest table line; not below READABLE_SIZE
    where wrapping the tables' cells fits them there instead, and never below MIN_SIZE. Prose is wrapped to
    the page width. ``footer`` is printed at the foot of every page. ``panel``:
    ``(marker, height, draw)``: the markdown line ``marker`` becomes a blank band ``height`` inches tall
    across the text width (on the next page when it does not fit the current one), and ``draw(fig, rect)``
    draws into it, ``rect`` = [left, bottom, width, height] in figure fraction (a figure beside the text).
    """
    w, h = pagesize
    width_pt = (w - 2 * MARGIN) * 72
    # characters per line (the epsilon: a size computed to fit n characters must give n, not n - 1)
    chars = lambda points: int(width_pt / (points * MONO_ADVANCE) + 1e-9)  # noqa: E731
    widest = lambda lines: max((len(line) for line, in_table in lines if in_table), default=0)  # noqa: E731
    lines = text_lines(markdown)
    if widest(lines) > chars(size):
        size = max(min(size, width_pt / (widest(lines) * MONO_ADVANCE)), min(size, READABLE_SIZE))
        lines = text_lines(markdown, chars(size))
        if widest(lines) > chars(size):  # a word too long to wrap: the page shrinks to it
            size = max(MIN_SIZE, width_pt / (widest(lines) * MONO_ADVANCE))
    width = chars(size)
    wrapped: list[tuple[str, bool]] = []
    kept: dict[int, int] = {}  # a line's first wrapped line -> the index after its group, kept on one page
    for line, in_table in lines:
        parts = _wrap(line, width) if len(line) > width and not in_table else [line]
        if 1 < len(parts) <= KEEP_LINES:  # a list item or short paragraph wrapped onto a few lines is not split
            kept[len(wrapped)] = len(wrapped) + len(parts)
        wrapped += [(part, in_table) for part in parts]
    wrapped = wrapped or [("", False)]
    step = size * LINE_HEIGHT / 72  # inches per line
    per_page = int((h - 2 * MARGIN - 0.25) / step)
    band = min(per_page, math.ceil(panel[1] / step)) if panel else 0  # the panel's height in lines
    tables = _table_spans(wrapped)  # first line -> (its last line + 1, the header's lines)
    kept.update({_lead_in(wrapped, k): end for k, (end, _) in tables.items()})  # a table with its caption, heading
    pages: list[list] = [[]]  # per page: its lines, and the panel as (PANEL_SLOT, line index)
    used = 0
    header: list[str] = []  # the header of the table being set, repeated atop a page it continues on
    start = end = 0  # where that table starts and ends
    for k, (line, _) in enumerate(wrapped):
        if k in tables:
            start, (end, header) = k, tables[k]
        # a table that fits a page is not split: it starts the next page, with the caption above it, where this
        # page cannot hold it
        if k in kept and used and used + (kept[k] - k) > per_page and kept[k] - k <= per_page:
            pages.append([])
            used = 0
        slots = band if panel and line == panel[0] else 1
        heading_last = line.startswith("#") and used + 3 > per_page  # a heading opens the next page instead
        if (used + slots > per_page or heading_last) and used:
            pages.append([])
            used = 0
            if start + len(header) <= k < end and len(header) < per_page // 2:
                for repeated in header:  # its column names and rule, again
                    pages[-1].append((repeated, used))
                    used += 1
        if not line and not used and len(pages) > 1:
            continue  # a blank line does not open a page
        pages[-1].append((PANEL_SLOT, used) if slots == band and panel and line == panel[0] else (line, used))
        used += slots
    figures = []
    for number, content in enumerate(pages):
        fig = Figure(figsize=pagesize)
        for line, i in content:
            top = 1 - (MARGIN + i * step) / h
            if line is PANEL_SLOT:
                panel[2](fig, [MARGIN / w, top - band * step / h, (w - 2 * MARGIN) / w, band * step / h])
                continue
            heading = line.startswith("#")  # markdown's heading marks: bold on the page, not printed
            fig.text(MARGIN / w, top, line.lstrip("#").lstrip() if heading else line, family="monospace",
                     fontsize=size, fontweight="bold" if heading else "normal", va="top", ha="left")
        if number:
            fig.text(MARGIN / w, 1 - (MARGIN - 0.3) / h, "(continued)", fontsize=7, color="0.5", va="top")
        if footer:
            fig.text(0.5, (MARGIN - 0.25) / h, footer, ha="center", fontsize=7, color="0.5")
        figures.append(fig)
    return figures
