"""The docs stay true to the tree (issue 33): the README is a short front door whose links work
and whose first commands are the ones that exist, and ARCHITECTURE.md names every module and
says exactly which files use Streamlit. Everything is read from the tree at run time, so a module
added, moved or split fails here until the docs say so."""
import ast
import fnmatch
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
ARCHITECTURE = REPO / "ARCHITECTURE.md"
MAX_README_LINES = 250
DOCUMENTED = ("gan_core", "lab_app", "app_pages")      # packages whose every module is named
STREAMLIT_LINE = "Streamlit is imported only by:"


def doc_files():
    return [README, ARCHITECTURE, *sorted((REPO / "docs").glob("*.md")),
            REPO / "experiments" / "README.md"]


def without_code_blocks(text):
    return re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)


def rel(path):
    return path.relative_to(REPO).as_posix()


def python_files():
    """Every .py file of the project, outside tests, hidden folders and virtual environments."""
    found = list(REPO.glob("*.py"))
    for top in REPO.iterdir():
        if (not top.is_dir() or top.name.startswith(".") or top.name == "tests"
                or (top / "pyvenv.cfg").exists()):
            continue
        found += [p for p in top.rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(found)


def imports_streamlit(path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):   # local imports too
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
            return True
    return False


def matches(pattern, path):
    """Does a name from ARCHITECTURE.md cover this repo-relative path? `dir/sub/` covers the
    files below it, `dir/*.py` is a glob, `dir/file.py` a path, `file.py` any file so named."""
    if pattern.endswith("/"):
        return path.startswith(pattern)
    if "*" in pattern:
        return fnmatch.fnmatchcase(path, pattern)
    if "/" in pattern:
        return path == pattern
    return path.rsplit("/", 1)[-1] == pattern


def test_readme_is_a_short_front_door():
    n = len(README.read_text().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; move detail into docs/"


@pytest.mark.parametrize("doc", doc_files(), ids=rel)
def test_every_relative_link_resolves(doc):
    text = without_code_blocks(doc.read_text())
    targets = re.findall(r"\]\(<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)", text)
    targets += re.findall(r"^\s*\[[^\]]+\]:\s*(\S+)", text, flags=re.MULTILINE)
    broken = []
    for target in targets:
        if re.match(r"(https?|mailto):", target):
            continue
        path = target.split("#", 1)[0]
        if path and not (doc.parent / path).exists():
            broken.append(target)
    assert not broken, f"{rel(doc)} links to missing files: {broken}"


@pytest.mark.parametrize("doc", doc_files(), ids=rel)
def test_no_test_count_in_prose(doc):
    """A count of tests goes stale with the next test; the suite's own output says it."""
    found = re.findall(r"\b\d[\d,]*\s+(?:tests|passed|failed|skipped|test cases)\b",
                       doc.read_text())
    assert not found, f"{rel(doc)} quotes a test count: {found}"


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    first_block = re.search(r"^```[^\n]*\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    assert first_block, "README.md has no code block"
    assert first_block.start() < text.find("\n## "), "the commands come before the first section"
    assert "./lab app" in first_block.group(1)
    assert "./lab test" in first_block.group(1)        # .ci/run runs the README's test command


def test_architecture_names_every_module():
    text = ARCHITECTURE.read_text()
    names = set(re.findall(r"[\w./*-]*[\w*]\.py|[\w.-]+/[\w./-]*/", text))
    covering = {n for n in names if not n.endswith("/") or n.strip("/").count("/") >= 1}
    modules = [rel(p) for p in python_files()
               if p.parent == REPO or rel(p).split("/", 1)[0] in DOCUMENTED]
    assert modules
    missing = [m for m in modules if not any(matches(n, m) for n in covering)]
    assert not missing, f"ARCHITECTURE.md does not name: {missing}"


def test_architecture_says_which_files_import_streamlit():
    lines = [l for l in ARCHITECTURE.read_text().splitlines() if l.startswith(STREAMLIT_LINE)]
    assert len(lines) == 1, f"ARCHITECTURE.md needs one line starting {STREAMLIT_LINE!r}"
    patterns = re.findall(r"`([^`]+)`", lines[0])
    assert patterns
    files = {rel(p): p for p in python_files()}
    importing = {f for f, p in files.items() if imports_streamlit(p)}
    listed = {f for f in files if any(matches(pat, f) for pat in patterns)}
    assert importing - listed == set(), f"import Streamlit but are not listed: {importing - listed}"
    assert listed - importing == set(), f"listed but do not import Streamlit: {listed - importing}"
    unmatched = [pat for pat in patterns if not any(matches(pat, f) for f in files)]
    assert not unmatched, f"listed names that match no file: {unmatched}"


def test_the_streamlit_check_sees_function_local_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def draw():\n    from streamlit.testing.v1 import AppTest\n")
    assert imports_streamlit(f)
    f.write_text("import plotly\nfrom .streamlit_like import x\n")
    assert not imports_streamlit(f)
