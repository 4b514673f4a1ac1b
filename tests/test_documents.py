"""The project cites only documents it has (issue 22, section 5): every ``<name>.md`` a tracked file names is
one of the project's own Markdown files (a report's summary.md or verdict.md counts: results/ holds some)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*\.md\b")


def test_no_tracked_file_cites_a_document_the_project_lacks():
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode()
    tracked = [f for f in files.split("\0") if f]
    documents = {Path(f).name for f in tracked if f.endswith(".md")}
    assert {"README.md", "RESULTS.md", "BENCHMARKS.md"} <= documents
    missing = []
    for name in tracked:
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # images, deleted but not yet committed
        for cited in sorted(set(CITED.findall(text))):
            if Path(cited).name not in documents:
                missing.append(f"{name}: {cited}")
    assert not missing, missing
