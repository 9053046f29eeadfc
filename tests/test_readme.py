"""The README leads with what the project found, in numbers the generated tables hold, and
speaks of the project as it is (no work log); the engine's internals live in docs/engine.md."""

import pathlib
import re

from theory.paper import repro

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
HISTORY = ("this round", "at commit", "the round before", "which is removed", "It replaces",
           "Earlier steps", "Not kept")


def _findings():
    """The findings: from their heading to the end of the table of claims under both
    protocols, all within the first 60 lines."""
    head = README.splitlines()[:60]
    start = head.index("## What we found")
    end = head.index(repro.PROTOCOLS[1])
    return "\n".join(head[start:end])


def test_the_first_60_lines_state_the_findings_and_their_protocol():
    text = " ".join(_findings().split())
    for words in ("held", "Did not hold", "Within noise", "Not run", "Protocol",
                  "not the authors'", "paper_repro.md", "results/README.md",
                  "#results-on-the-image-benchmarks"):
        assert words in text, words
    for claim in ("C7", "C8", "C12"):
        assert f"({claim})" in text
    for protocol in ("the authors' protocol", "ours (`converged`)"):  # the table's columns
        assert protocol in text


def test_every_interval_the_findings_quote_is_in_the_generated_tables():
    block = README.split(repro.BEGIN, 1)[1].split(repro.END, 1)[0]
    quoted = re.findall(r"[+−-]?\d+\.\d ± \d+\.\d", _findings())
    assert len(quoted) >= 7
    for interval in quoted:
        assert interval.replace("−", "-") in block, interval


def test_readme_and_engine_doc_describe_the_code_as_it_is():
    engine = (ROOT / "docs" / "engine.md").read_text()
    for text, name in ((README, "README.md"), (engine, "docs/engine.md")):
        for phrase in HISTORY:
            assert phrase not in text, f"{name}: {phrase!r}"
        assert not re.search(r"commit [0-9a-f]{7}", text), name
    assert "<!-- perf-table -->" in engine and "<!-- perf-table -->" not in README
    assert "## Performance" in engine and "## Performance" not in README
