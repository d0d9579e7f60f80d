"""README and docs/ form one linked set: every relative link and anchor resolves, every doc is reachable."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    return {_anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", doc.read_text(), re.MULTILINE)}


def _links(doc: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.DOTALL)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = []
    for doc in _documents():
        for target in _links(doc):
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.exists():
                broken.append(f"{doc.relative_to(REPO)}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{doc.relative_to(REPO)}: {target} (no such heading)")
    assert broken == []


def test_every_doc_is_reachable_from_the_readme() -> None:
    seen: set[Path] = set()
    todo = [REPO / "README.md"]
    while todo:
        doc = todo.pop().resolve()
        if doc in seen or doc.suffix != ".md" or not doc.exists():
            continue
        seen.add(doc)
        todo += [doc.parent / t.partition("#")[0] for t in _links(doc) if t.partition("#")[0]]
    unreachable = [d.relative_to(REPO) for d in _documents() if d.resolve() not in seen]
    assert unreachable == []
