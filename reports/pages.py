"""Text pages for report.pdf: a small markdown subset laid out with matplotlib, paginated.

Supported: ``#``/``##``/``###`` headings, paragraphs (a leading ``**bold lead-in.**`` is set in bold on
its own line), ``_italic paragraphs_``, ``- `` bullet lists, pipe tables and fenced code blocks (set in
monospace, shrunk to fit the page width). Backticks are dropped. Text is wrapped with the font's real
glyph widths, so nothing runs off the page; content that does not fit continues on a new page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.ft2font import LoadFlags

A4_PORTRAIT = (8.27, 11.69)
A4_LANDSCAPE = (11.69, 8.27)
MARGIN = 0.6  # inches
MONO_ADVANCE = 0.602  # DejaVu Sans Mono advance width, in em


@dataclass
class _Line:
    text: str
    size: float
    weight: str = "normal"
    style: str = "normal"
    family: str = "sans-serif"
    indent: float = 0.0  # inches
    space_before: float = 0.0  # inches


@lru_cache(maxsize=4096)
def _char_width(ch: str, weight: str, style: str) -> float:
    """Advance width of one character at 1 pt, in points (from the font file, as Agg and PDF lay it out)."""
    font = _font(weight, style)
    glyph = font.load_char(ord(ch), flags=LoadFlags.NO_HINTING)
    return glyph.linearHoriAdvance / 65536 / 100.0


@lru_cache(maxsize=8)
def _font(weight: str, style: str):
    font = get_font(findfont(FontProperties(family="sans-serif", weight=weight, style=style)))
    font.set_size(100, 72)
    return font


def text_width(text: str, size: float, weight: str = "normal", style: str = "normal") -> float:
    """Approximate rendered width of ``text`` in points (sum of advances, no kerning)."""
    return sum(_char_width(c, weight, style) for c in text) * size


def wrap(text: str, width_pt: float, size: float, weight: str = "normal", style: str = "normal") -> list[str]:
    words, lines, cur = text.split(), [], ""
    for word in words:
        trial = f"{cur} {word}" if cur else word
        if cur and text_width(trial, size, weight, style) > width_pt:
            lines.append(cur)
            cur = word
        else:
            cur = trial
    if cur:
        lines.append(cur)
    return lines or [""]


def _clean(text: str) -> str:
    return text.replace("`", "")


def _table_lines(rows: list[str]) -> list[str]:
    """Pipe table -> aligned monospace lines (separator row becomes a rule)."""
    cells = []
    for row in rows:
        parts = [c.strip().replace("\\|", "|") for c in row.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-{2,}:?", p) for p in parts if p):
            cells.append(None)
        else:
            cells.append([_clean(p) for p in parts])
    real = [c for c in cells if c is not None]
    ncol = max(len(c) for c in real)
    widths = [max(len(c[i]) if i < len(c) else 0 for c in real) for i in range(ncol)]
    out = []
    for c in cells:
        if c is None:
            out.append("  ".join("-" * w for w in widths))
        else:
            c = c + [""] * (ncol - len(c))
            out.append("  ".join(x.ljust(w) if i in (0, ncol - 1) or not _numeric(x) else x.rjust(w)
                                 for i, (x, w) in enumerate(zip(c, widths))).rstrip())
    return out


def _numeric(x: str) -> bool:
    return bool(re.match(r"^[~+\-−–]?\d", x)) or x in ("–",)


def layout(markdown: str, width_in: float, base: float = 9.5) -> list[_Line]:
    """Turn markdown into positioned lines for a text column ``width_in`` inches wide."""
    width_pt = width_in * 72
    lines: list[_Line] = []
    blocks = re.split(r"\n\s*\n", markdown.strip("\n"))
    for block in blocks:
        raw = block.split("\n")
        if raw[0].startswith("```"):
            body = [r for r in raw[1:] if not r.startswith("```")]
            lines += _mono(body, width_pt, base, space_before=0.06)
            continue
        if all(r.strip().startswith("|") for r in raw if r.strip()):
            lines += _mono(_table_lines([r for r in raw if r.strip()]), width_pt, base, space_before=0.06)
            continue
        first = True
        para: list[str] = []

        def flush_para():
            nonlocal first
            if not para:
                return
            text = _clean(" ".join(p.strip() for p in para))
            para.clear()
            style = "normal"
            if text.startswith("_") and text.endswith("_") and len(text) > 2:
                text, style = text[1:-1], "italic"
            m = re.match(r"^\*\*(.+?)\*\*\s*(.*)$", text)
            if m:
                for i, t in enumerate(wrap(m[1], width_pt, base, "bold")):
                    lines.append(_Line(t, base, "bold", space_before=0.12 if (i == 0 and first) else 0))
                    first = False
                text = m[2]
                if not text:
                    return
            text = text.replace("**", "")
            for i, t in enumerate(wrap(text, width_pt, base, "normal", style)):
                lines.append(_Line(t, base, style=style, space_before=0.12 if (i == 0 and first) else 0))
            first = False

        for r in raw:
            stripped = r.strip()
            heading = re.match(r"^(#{1,3})\s+(.*)$", stripped)
            if heading:
                flush_para()
                level = len(heading[1])
                size = {1: base + 7, 2: base + 3, 3: base + 1}[level]
                for t in wrap(_clean(heading[2]), width_pt, size, "bold"):
                    lines.append(_Line(t, size, "bold", space_before=0.22 if level > 1 else 0.0))
                first = True
                continue
            if stripped.startswith("- "):
                flush_para()
                text = _clean(stripped[2:]).replace("**", "")
                bullet_w = text_width("•  ", base) / 72
                for i, t in enumerate(wrap(text, width_pt - bullet_w * 72, base)):
                    lines.append(_Line(("•  " if i == 0 else "") + t, base, indent=0 if i == 0 else bullet_w,
                                       space_before=0.04 if i == 0 else 0))
                first = False
                continue
            para.append(stripped)
        flush_para()
    return lines


def _mono(body: list[str], width_pt: float, base: float, space_before: float) -> list[_Line]:
    longest = max((len(b) for b in body), default=1)
    size = min(base, width_pt / (max(longest, 1) * MONO_ADVANCE))
    size = max(size, 4.0)
    return [_Line(b, size, family="monospace", space_before=space_before if i == 0 else 0)
            for i, b in enumerate(body)]


def render_pages(markdown: str, pagesize: tuple[float, float] = A4_PORTRAIT, base: float = 9.5,
                 footer: str = "") -> list[Figure]:
    """Lay ``markdown`` out on as many pages (Figures) as it needs."""
    w, h = pagesize
    lines = layout(markdown, w - 2 * MARGIN, base)
    pages: list[Figure] = []
    fig, y = None, 0.0
    bottom = h - MARGIN - 0.25
    for line in lines:
        step = line.size * 1.38 / 72
        if fig is None or y + line.space_before + step > bottom:
            fig = Figure(figsize=pagesize)
            pages.append(fig)
            y = MARGIN
            if len(pages) > 1:
                fig.text(MARGIN / w, 1 - (MARGIN - 0.3) / h, "(continued)", fontsize=7, color="0.5", va="top")
        else:
            y += line.space_before
        fig.text((MARGIN + line.indent) / w, 1 - y / h, line.text, fontsize=line.size, fontweight=line.weight,
                 fontstyle=line.style, family=line.family, va="top", ha="left")
        y += step
    if not pages:
        pages.append(Figure(figsize=pagesize))
    if footer:
        for page in pages:
            page.text(0.5, (MARGIN - 0.25) / h, footer, ha="center", fontsize=7, color="0.5")
    return pages
