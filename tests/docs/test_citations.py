"""Every citation of a reference file can be followed inside the repository.

A citation is a path to a `.md` file followed by a section (`docs/reference/hardware.md §1.3`, also
`§4.1 / §8` and `§1.1, §2.2`) or an anchor (`reference/hardware.md#42-contactor`), or any mention of
a reference file by name. The file must exist in the repository (the path taken from the repository root
or from the citing file's folder), and each cited section must be a numbered heading of it (`## 4.`,
`### 4.1`, `## B01`) and each anchor a heading's anchor. Nothing may point outside the project
(the references the brief names live outside it and are copied into docs/reference/ with their sources).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs.test_links import _anchors

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "docs" / "reference"
# The names the outside reference set uses; a citation of one of these must go through docs/reference/.
OUTSIDE_REFERENCE_NAMES = frozenset({"hardware.md", "ocpp-libraries.md", "ocpp201.md"})
OUTSIDE = re.compile(r"/work/shared|shared/reference")
SECTION = r"§\s*([A-Za-z]*\d+(?:\.\d+)*)"
CITATION = re.compile(
    r"(?<![\w./-])(?P<path>(?:\.\.?/)*[\w-]+(?:/[\w.-]+)*\.md)"
    r"(?:#(?P<anchor>[\w-]+))?"
    rf"(?P<sections>(?:\s*(?:,|/|;|and)?\s*{SECTION})*)"
)
EXAMPLE = REPO / "tools" / "citing_example.py"  # a citing file for the checker's own tests (never written)
HEADING_NUMBER = re.compile(r"^#+ ([A-Za-z]*\d+(?:\.\d+)*)\.?(?:\s|$)", re.MULTILINE)


@dataclass(frozen=True)
class Citation:
    source: Path
    line: int
    path: str
    anchor: str | None
    sections: tuple[str, ...]

    def where(self) -> str:
        return f"{self.source.relative_to(REPO)}:{self.line}: {self.path}"


def _files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()
    return [REPO / name for name in listed if (REPO / name).is_file()]


def citations(path: Path, text: str) -> list[Citation]:
    found = []
    for match in CITATION.finditer(text):
        sections = tuple(re.findall(SECTION, match.group("sections")))
        named = Path(match.group("path")).name in OUTSIDE_REFERENCE_NAMES | _reference_names()
        if sections or match.group("anchor") or named or "reference/" in match.group("path"):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Citation(path, line, match.group("path"), match.group("anchor"), sections))
    return found


def _reference_names() -> set[str]:
    return {p.name for p in REFERENCE.glob("*.md")}


def _target(citation: Citation) -> Path | None:
    for base in (REPO, citation.source.parent):
        candidate = (base / citation.path).resolve()
        if candidate.is_file() and candidate.is_relative_to(REPO):
            return candidate
    return None


def _section_numbers(doc: Path) -> set[str]:
    return set(HEADING_NUMBER.findall(doc.read_text()))


def problems(path: Path, text: str) -> list[str]:
    """What is wrong with the citations in `text`, the content of the file `path`."""
    found = [
        f"{path.relative_to(REPO)}:{number}: points outside the project"
        for number, line in enumerate(text.splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    for citation in citations(path, text):
        target = _target(citation)
        if target is None:
            found.append(f"{citation.where()} (no such file in the repository)")
            continue
        missing = [s for s in citation.sections if s not in _section_numbers(target)]
        if missing:
            found.append(f"{citation.where()} (no section {', '.join(missing)})")
        if citation.anchor and citation.anchor not in _anchors(target):
            found.append(f"{citation.where()} (no heading #{citation.anchor})")
    return found


def broken_citations() -> list[str]:
    broken = []
    for path in _files():
        if path == Path(__file__):
            continue  # its own examples are broken on purpose
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary
        broken += problems(path, text)
    return broken


def test_every_citation_resolves_inside_the_repository() -> None:
    assert broken_citations() == []


def test_the_reference_files_exist_and_are_numbered() -> None:
    for name in ("hardware.md", "ocpp-libraries.md"):
        assert _section_numbers(REFERENCE / name), name


# --- the checker catches each kind of broken citation --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# bands: hardware.md §1.3\n", "no such file"),  # the outside file, not the repo's
        ("# see docs/reference/hardware.md §1.9\n", "no section 1.9"),
        ("# see docs/reference/hardware.md §4.1 / §88\n", "no section 88"),
        ("# see docs/reference/nothing.md §1\n", "no such file"),
        ("# see docs/reference/ocpp201.md §B01\n", "no such file"),  # until that reference exists
        ("# see docs/reference/hardware.md#no-such-heading\n", "no heading"),
        ("# from ocpp-libraries.md\n", "no such file"),
        ("# see /work/shared/reference/hardware.md\n", "outside the project"),
    ],
)
def test_a_broken_citation_is_reported(text: str, problem: str) -> None:
    if "ocpp201" in text and (REFERENCE / "ocpp201.md").exists():
        text = text.replace("ocpp201.md §B01", "ocpp201.md §0.0.0")
        problem = "no section 0.0.0"
    report = problems(EXAMPLE, text)
    assert len(report) == 1 and problem in report[0], report


@pytest.mark.parametrize(
    "text",
    [
        "# docs/reference/hardware.md §1.3, chargebyte\n",
        "# docs/reference/hardware.md §4.1 / §8 and §2.2\n",
        "# docs/reference/hardware.md#13-cp-voltages-and-how-the-evse-classifies-them\n",
        "# README.md mentions docs/configuration.md\n",
    ],
)
def test_a_good_citation_passes(text: str) -> None:
    assert problems(EXAMPLE, text) == []
