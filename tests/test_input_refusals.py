"""Bad input a fault hunt found accepted or misreported: each is one line naming the bad value and the valid
choices, a non-zero exit, nothing written; good input keeps working (and keeps its recorded digests).
"""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from experiments.config import ConfigError, load_profile

pytestmark = pytest.mark.filterwarnings("ignore")


def one_error_line(err: str, *fragments: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# --- milestones must be strictly increasing ----------------------------------------------------------------
@pytest.mark.parametrize("milestones", ["[3,3]", "[6,3]", "[0,3]"])
def test_repeated_or_unordered_milestones_are_refused(milestones, tmp_path):
    """milestones=[3,3] passed a check whose own words say "must be increasing" and divided the rate twice
    at iteration 3 (the check compared with sorted(), which keeps repeats)."""
    from experiments import matrix

    shown = milestones.replace(",", ", ")
    with pytest.raises(ConfigError, match=re.escape(f"bad milestones {shown}: must be strictly increasing")):
        load_profile("smoke", [f"milestones={milestones}"])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = matrix.main(["check", "--profile", "smoke", "--runs-dir", str(tmp_path / "runs"),
                          "--set", f"milestones={milestones}"])
    assert rc == 2
    one_error_line(err.getvalue(), "bad milestones", "strictly increasing")
    assert not (tmp_path / "runs").exists()
    assert load_profile("smoke", ["milestones=[3,6]"]).milestones == [3, 6]
