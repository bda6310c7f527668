"""The documents point at things that exist: every relative link in README.md
and docs/*.md reaches a file (and a heading, when it names one), every
`make X` they name is a target of the Makefile, every path in the map of
the code (docs/architecture.md) and every repository path they quote exists, and every docs/*.md
named anywhere in the repository exists."""
import glob
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`[^`\n]*`")
# `make X` in a code span, or a code block's line starting "make X" (after any VAR=value).
MAKE_TARGET = re.compile(r"(?:^ {4}|`)(?:[A-Z_]+=\S*\s+)*make ([a-z][a-z0-9_-]*)", re.M)
# Quoted paths inside the repository: they start with one of its top directories.
REPO_PATH = re.compile(r"`((?:app|bench|deploy|docs|mk|nginx|tests)/[^`\s$<>]*)`")


def github_anchor(heading):
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    seen, ids = {}, set()
    in_fence = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        m = re.match(r"#{1,6} (.+)", line)
        if m and not in_fence:
            base = github_anchor(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            ids.add(base if n == 0 else f"{base}-{n}")
    return ids


def broken_links(doc):
    """Relative links of doc that reach no file, or no heading of that file."""
    broken = []
    text = CODE_SPAN.sub("", doc.read_text())
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{doc.name}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{doc.name}: {target}: no such heading")
    return broken


def make_targets():
    """Every target make knows, from its database (-p) without running anything (-q)."""
    out = subprocess.run(["make", "-C", str(ROOT), "-pRrq", "--no-print-directory",
                          "no-such-target-for-the-database-dump"],
                         capture_output=True, text=True).stdout
    targets = set()
    for line in out.splitlines():
        m = re.match(r"([A-Za-z0-9][^$#/\t=:]*):(?!=)", line)
        if m:
            targets.update(m.group(1).split())
    assert "test" in targets and "all" in targets, "make's database could not be read"
    return targets


# The map of the code: a table, each file or folder and what it is responsible for.
CODE_MAP = ROOT / "docs" / "architecture.md"


def code_map_section():
    """The "The map of the code" section of CODE_MAP."""
    return CODE_MAP.read_text().split("## The map of the code", 1)[1].split("\n## ", 1)[0]


def code_map_paths():
    """The first column of the map of the code."""
    section = code_map_section()
    paths = []
    for line in section.splitlines():
        if line.startswith("| `"):
            paths += re.findall(r"`([^`]+)`", line.split(" | ")[0])
    assert len(paths) > 10, f"{CODE_MAP.name}'s map of the code was not found"
    return paths


def test_every_relative_link_reaches_a_file_and_heading():
    assert len(DOCS) > 1
    broken = [b for doc in DOCS for b in broken_links(doc)]
    assert not broken, "\n".join(broken)


def test_every_make_target_named_exists():
    targets = make_targets()
    named = {t for doc in DOCS for t in MAKE_TARGET.findall(doc.read_text())}
    assert {"run", "test"} <= named
    missing = sorted(named - targets)
    assert not missing, f"make targets named in the documents but not in the Makefile: {missing}"


def test_every_path_in_the_code_map_exists():
    missing = [p for p in code_map_paths() if not glob.glob(str(ROOT / p))]
    assert not missing, f"the map of the code names missing paths: {missing}"


def test_every_symbol_in_the_code_map_is_in_its_files():
    """An array (`name[]`) or a struct (`struct name`) that a row of the map
    names is defined in that row's files."""
    section = code_map_section()
    missing, checked = [], 0
    for line in section.splitlines():
        cells = line.split(" | ")
        if not line.startswith("| `") or len(cells) < 2:
            continue
        files = [f for p in re.findall(r"`([^`]+)`", cells[0]) for f in glob.glob(str(ROOT / p))]
        source = "".join(Path(f).read_text() for f in files if Path(f).is_file())
        for symbol in re.findall(r"`((?:struct )?[a-z_][a-z0-9_]*(?:\[\])?)`", cells[1]):
            if symbol.endswith("[]"):
                pattern = rf"\b{re.escape(symbol[:-2])}\[\]"
            elif symbol.startswith("struct "):
                pattern = rf"\b{symbol}\s*\{{"
            else:
                continue
            checked += 1
            if not re.search(pattern, source):
                missing.append(f"{symbol} (in {cells[0].strip('| ')})")
    assert checked >= 2, "no symbol of the map was checked"
    assert not missing, f"the map of the code names symbols its files lack: {missing}"


def test_every_repository_path_quoted_exists():
    missing = []
    for doc in DOCS:
        for p in REPO_PATH.findall(doc.read_text()):
            if not glob.glob(str(ROOT / p)):
                missing.append(f"{doc.name}: {p}")
    assert not missing, "\n".join(missing)


def test_every_docs_file_named_in_the_repository_exists():
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True,
                           text=True, check=True).stdout.split()
    missing = []
    for name in files:
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for ref in re.findall(r"\bdocs/[\w.-]+\.md\b", text):
            if not (ROOT / ref).exists():
                missing.append(f"{name}: {ref}")
    assert not missing, "\n".join(missing)


def test_every_file_the_architecture_names_exists():
    """docs/architecture.md names files by their paths from the repository's root
    (its map of the code, whose cells also quote routes and settings, has tests
    of its own above)."""
    text = CODE_MAP.read_text().replace(code_map_section(), "")
    paths = {p for p in re.findall(r"`([^`\s]+)`", text) if "/" in p}
    assert len(paths) > 10, "docs/architecture.md names too few files"
    missing = sorted(p for p in paths if not glob.glob(str(ROOT / p)))
    assert not missing, f"docs/architecture.md names missing files: {missing}"
