"""report.pdf's text pages (reports.pages): the markdown's words in monospace, wrapped, tables aligned,
paginated with a footer."""

from __future__ import annotations

import re

from reports.pages import (A4_LANDSCAPE, A4_PORTRAIT, MARGIN, MIN_SIZE, MONO_ADVANCE, READABLE_SIZE, render_pages,
                           text_lines)

MARKDOWN = """# Summary: degradation / quick

**CIFAR family (fashion-mnist): reproduced.** Final training error (%): plain-20 21.07 ± 1.61 (n=3); \
plain-56 62.97 ± 13.06 (n=3); resnet-56 19.48 ± 2.97 (n=3), read from `runs/degradation/quick`.
- Degradation, plain-56 − plain-20 = +41.90 points (95% CI +30.1 to +53.7, Welch t, df 2.1; > 0 in 3 of 3 \
seeds): the deeper plain net trains worse, and the interval excludes 0.

| model | final train | runs |
|---|---:|---|
| plain-20 | 21.07 ± 1.61 | 3/3 ok |
| resnet-110 | 7.00 | 1/3 ok |

_Intervals: 95% Welch t-intervals._
"""


def page_lines(page) -> list[str]:
    """The body lines of a page, top to bottom (no footer, no "(continued)")."""
    texts = [t for t in page.texts if t.get_fontfamily() == ["monospace"]]
    return [t.get_text() for t in sorted(texts, key=lambda t: -t.get_position()[1])]


def words(text: str) -> list[str]:
    return re.sub(r"[#|]|-{3,}:?", " ", re.sub(r"\*\*|`|^_|_$", "", text, flags=re.M)).split()


def test_text_lines_drop_markers_and_align_tables():
    lines = [line for line, _ in text_lines(MARKDOWN)]
    assert lines[0] == "# Summary: degradation / quick"
    assert lines[2].startswith("CIFAR family (fashion-mnist): reproduced. Final") and "`" not in lines[2]
    table = [line for line, in_table in text_lines(MARKDOWN) if in_table]
    assert table == ["model        final train  runs",
                     "----------  ------------  ------",
                     "plain-20    21.07 ± 1.61  3/3 ok",
                     "resnet-110          7.00  1/3 ok"]  # "---:" right-aligns the numbers, "---" left
    assert lines[-2] == "Intervals: 95% Welch t-intervals."


def test_render_pages_keeps_every_word_and_wraps_to_the_page():
    (page,) = render_pages(MARKDOWN, A4_PORTRAIT, size=9.0, footer="degradation / quick — reports.build")
    lines = page_lines(page)
    assert words("\n".join(lines)) == words(MARKDOWN)
    width = int((A4_PORTRAIT[0] - 2 * MARGIN) * 72 / (9.0 * MONO_ADVANCE))
    assert max(map(len, lines)) <= width and len(lines) > len(MARKDOWN.strip().split("\n"))  # wrapped
    item = lines.index(next(line for line in lines if line.startswith("- Degradation")))
    assert lines[item + 1].startswith("  ") and not lines[item + 1].startswith("   ")  # under the item's text
    # The heading is bold, its markdown marks not printed (a reader found "#" and "##" on every page).
    assert [t.get_text() for t in page.texts if t.get_fontweight() == "bold"] == ["Summary: degradation / quick"]
    assert not any(t.get_text().startswith("#") for t in page.texts)
    assert "degradation / quick — reports.build" in [t.get_text() for t in page.texts]


def test_a_wide_table_shrinks_the_font_and_long_text_continues_on_more_pages():
    wide = "| " + " | ".join(f"column {i}" for i in range(16)) + " |\n|" + "---|" * 16
    (page,) = render_pages(wide, A4_LANDSCAPE, size=9.0)
    (line,) = [t for t in page.texts if t.get_text().startswith("column 0")]
    assert len(line.get_text()) * line.get_fontsize() * MONO_ADVANCE <= (A4_LANDSCAPE[0] - 2 * MARGIN) * 72 + 1e-6
    assert line.get_fontsize() < 9.0
    long = "\n".join(f"- item {i}" for i in range(300))
    pages = render_pages(long, A4_PORTRAIT, size=9.0, footer="foot")
    assert len(pages) > 2
    assert [line for page in pages for line in page_lines(page)] == long.split("\n")
    for i, page in enumerate(pages):
        others = [t.get_text() for t in page.texts if t.get_fontfamily() != ["monospace"]]
        assert others == (["(continued)", "foot"] if i else ["foot"])


def test_a_table_too_wide_to_read_wraps_its_words_instead_of_shrinking_the_page():
    """A board whose verdicts would set the page at 5 pt: its cells wrap at their spaces, within their own
    column, so the page stays at READABLE_SIZE; names and numbers (an interval, a mean ± std) stay whole."""
    verdict = "not decided: neither a gap nor ±5 shown, and the seeds that would decide it are more than thirty"
    table = "\n".join(["| method | train 56 | gap 56 − 20 [95% CI] | verdict | flagged seeds |", "|---|---:|---|---|---|",
                       f"| resnet (ref.) | 69.64 ± 15.41 | +46.6 [+6.0, +87.2] | {verdict} | 20: 2/3 at chance; 56: 3/3 at chance |",
                       "| rezero | 16.12 ± 1.66 | -1.4 [-2.1, -0.6] | removes it (within ±5 points) | – |"])
    (page,) = render_pages("# Board\n\n" + table + "\n\nafter", A4_PORTRAIT, size=9.0)
    lines = page_lines(page)
    assert {t.get_fontsize() for t in page.texts if t.get_fontfamily() == ["monospace"]} == {READABLE_SIZE}
    width = int((A4_PORTRAIT[0] - 2 * MARGIN) * 72 / (READABLE_SIZE * MONO_ADVANCE))
    assert max(map(len, lines)) <= width < len(verdict) + 60
    assert sorted(words("\n".join(lines))) == sorted(words("# Board\n\n" + table + "\n\nafter"))  # lines interleave cells
    first = next(i for i, line in enumerate(lines) if line.startswith("resnet (ref.)"))
    assert "69.64 ± 15.41" in lines[first] and "+46.6 [+6.0, +87.2]" in lines[first]
    column = lines[first].index("not decided")
    continued = lines[first + 1]
    assert continued[:column].strip() == "" and continued[column] != " "  # under its own column, nothing left of it
    assert lines[-3].startswith("rezero") and "removes it (within ±5 points)" in lines[-3]
    # A word that cannot wrap (here a 150-character cell) still shrinks the page, down to MIN_SIZE at most.
    (page,) = render_pages("| a | b |\n|---|---|\n| x | " + "y" * 150 + " |", A4_PORTRAIT, size=9.0)
    assert MIN_SIZE <= page.texts[0].get_fontsize() < READABLE_SIZE


def test_a_table_shrunk_to_fit_the_page_is_not_also_wrapped():
    """A portrait table 103 characters wide is set at the size that fits 103 characters: the width computed
    back from that size came out 102 by rounding, and a cell wrapped needlessly."""
    row = "| " + "x" * 39 + " | " + "word " * 10 + "endxxxxxxxxx |"
    lines = [line for line, _ in text_lines(row + "\n|---|---|\n" + row)]
    assert max(map(len, lines)) == 103
    (page,) = render_pages(row + "\n|---|---|\n" + row, A4_PORTRAIT, size=9.0)
    assert len([t for t in page.texts if t.get_fontfamily() == ["monospace"]]) == 3  # two rows and the rule


def test_a_table_is_not_split_from_its_caption_and_a_long_one_repeats_its_header():
    """A reader found the boards split across pages, their rows on a page without their column names: a table
    that fits a page starts the next one, with the paragraph and heading that introduce it, where the page it
    would start on cannot hold it; one longer than a page repeats its column names and rule on each page."""
    filler = "\n".join(f"- note {i}" for i in range(60))
    table = "| method | train |\n|---|---:|\n" + "\n".join(f"| m{i} | {i}.0 |" for i in range(20))
    pages = render_pages(f"{filler}\n\n## Board\n\nThe board's caption.\n\n{table}", A4_PORTRAIT, size=9.0)
    assert len(pages) == 2
    second = page_lines(pages[1])
    assert second[:4] == ["Board", "", "The board's caption.", ""]  # the heading prints without its "##"
    assert [line.split()[0] for line in second[6:]] == [f"m{i}" for i in range(20)]  # every row, with its caption
    assert "Board" not in page_lines(pages[0])
    long = "| method | train |\n|---|---:|\n" + "\n".join(f"| m{i} | {i}.0 |" for i in range(150))
    pages = render_pages(long, A4_PORTRAIT, size=9.0)
    assert len(pages) >= 2
    rows = []
    for page in pages:
        lines = page_lines(page)
        assert lines[0].split() == ["method", "train"] and set(lines[1].replace(" ", "")) == {"-"}
        rows += [line.split()[0] for line in lines[2:]]
    assert rows == [f"m{i}" for i in range(150)]  # each row once, in order


def test_a_list_item_wrapped_onto_a_few_lines_is_not_split_across_pages():
    """A reader found a verdict's bullet split across pages, "0." alone at the foot of one: an item wrapped onto
    a few lines moves whole to the next page where the page cannot hold it."""
    filler = "\n".join(f"- note {i}" for i in range(58))
    item = "- Degradation, " + "word " * 60 + "end."
    pages = render_pages(f"{filler}\n{item}", A4_PORTRAIT, size=9.0)
    assert len(pages) == 2
    first, second = page_lines(pages[0]), page_lines(pages[1])
    assert first[-1] == "- note 57" and second[0].startswith("- Degradation,") and second[-1].endswith("end.")


def test_a_word_longer_than_a_line_is_broken_not_run_off_the_page():
    """The clean clone's tests found provenance's run folder path, longer than a portrait line, running off the
    page: such a word is broken across lines; every character is kept."""
    path = "/tmp/pytest-of-root/pytest-110/popen-gw0/" + "x" * 150 + "/runs/degradation/quick"
    (page,) = render_pages(f"- experiment / profile: degradation / quick (run folders under {path})", A4_PORTRAIT,
                           size=9.0)
    lines = page_lines(page)
    width = int((A4_PORTRAIT[0] - 2 * MARGIN) * 72 / (9.0 * MONO_ADVANCE))
    assert max(map(len, lines)) <= width and "".join(line.strip() for line in lines).endswith(
        path.replace(" ", "") + ")")
