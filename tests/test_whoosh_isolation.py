"""`search` leaves Whoosh as it found it: a program that embeds the engine keeps its own Whoosh.

Both checks run in a fresh interpreter, so that nothing imported by other tests interferes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MPWRITER_TESTS = Path(__file__).resolve().parent / "fixtures" / "whoosh" / "whoosh_test_mpwriter.py"

_SNAPSHOT_SCRIPT = r"""
import importlib, json, pkgutil, sys, tempfile, warnings
from pathlib import Path

warnings.simplefilter("ignore")  # some rarely used Whoosh modules warn on import
import whoosh


def whoosh_modules():
    names = ["whoosh"] + [info.name for info in pkgutil.walk_packages(whoosh.__path__, "whoosh.")]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # optional third-party dependencies
            pass
    return [
        module for name, module in sorted(sys.modules.items()) if name.split(".")[0] == "whoosh"
    ]


def snapshot():
    seen = {}
    for module in whoosh_modules():
        for name, value in list(vars(module).items()):
            seen[f"{module.__name__}.{name}"] = id(value)
            if isinstance(value, type):
                for attribute, member in list(vars(value).items()):
                    if attribute == "__slotnames__":
                        # The standard library's copyreg caches this on every class whose
                        # instances are pickled, by anyone (Whoosh pickles its schema).
                        continue
                    seen[f"{module.__name__}.{name}.{attribute}"] = id(member)
    return seen


def difference(before, after):
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


before = snapshot()

import search
for info in pkgutil.walk_packages(search.__path__, "search."):
    importlib.import_module(info.name)
from search import SearchEngine

work = Path(tempfile.mkdtemp())
corpus = work / "corpus"
corpus.mkdir()
for number in range(40):
    words = ["oil", "prices"] if number % 2 else ["football", "prices"]
    (corpus / f"{number}.md").write_text(
        f"---\ntitle: {' '.join(words)} {number}\nwebUrl: https://e.com/{number}\n"
        f"topics: [Business]\nquality: {number}\n"
        f"publishedDateTime: 2020-11-{1 + number % 28:02d}T10:00:00Z\n"
        f"---\n{' '.join(words * 3)} report\n",
        encoding="utf-8",
    )
hits = {}
with SearchEngine(work / "index") as engine:
    engine.index([corpus])
    queries = ("oil", "oil OR football", "prices NOT oil", "pri*", '"oil prices"', "date:2020-11")
    for text in queries:
        hits[text] = engine.search(text, limit=5, facets=["topics"]).total
    hits["related"] = len(engine.related("https://e.com/1").hits)
# Plain Whoosh in the same process, after all that.
from whoosh import fields, index, qparser
plain = index.create_in(str(work), fields.Schema(body=fields.TEXT(stored=True)))
with plain.writer() as writer:
    for number in range(10):
        writer.add_document(body=f"alpha beta {number}")
with plain.searcher() as searcher:
    parsed = qparser.QueryParser("body", plain.schema).parse("alpha OR beta")
    hits["plain"] = len(searcher.search(parsed))

changed = difference(before, snapshot())

# The snapshot does see a change to a Whoosh class (undone at once).
from whoosh.matching import binary
original = binary.AndMaybeMatcher.skip_to
binary.AndMaybeMatcher.skip_to = lambda self, target: None
noticed = difference(before, snapshot())
binary.AndMaybeMatcher.skip_to = original

print(json.dumps({"changed": changed, "hits": hits, "noticed": noticed, "size": len(before)}))
"""


def test_importing_indexing_and_searching_changes_nothing_in_whoosh(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SNAPSHOT_SCRIPT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["changed"] == []
    assert report["size"] > 5_000  # every module and class of Whoosh was recorded
    related = report["hits"].pop("related")
    assert related > 0
    assert report["hits"] == {
        "oil": 20,
        "oil OR football": 40,
        "prices NOT oil": 20,
        "pri*": 40,
        '"oil prices"': 20,
        "date:2020-11": 40,
        "plain": 10,
    }
    assert report["noticed"] == [
        "whoosh.matching.AndMaybeMatcher.skip_to",  # the package re-exports the class
        "whoosh.matching.binary.AndMaybeMatcher.skip_to",
    ]


_MPWRITER_SCRIPT = r"""
import multiprocessing, sys, tempfile
from pathlib import Path

multiprocessing.set_start_method("spawn", force=True)
from search import SearchEngine

work = Path(tempfile.mkdtemp())
(work / "corpus").mkdir()
(work / "corpus" / "a.md").write_text("---\ntitle: Oil\nwebUrl: https://e.com/a\n---\noil\n")
with SearchEngine(work / "index") as engine:
    engine.index([work / "corpus"])
    assert engine.search("oil").total == 1

import pytest
sys.exit(pytest.main([sys.argv[1], "-q", "-p", "no:cacheprovider", "-W", "error"]))
"""


def test_whooshs_own_multiprocess_writer_tests_pass_under_spawn(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _MPWRITER_SCRIPT, str(MPWRITER_TESTS), "--rootdir", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "9 passed" in done.stdout, done.stdout


def test_no_module_of_search_assigns_to_another_modules_class() -> None:
    # `module.Class.attribute = ...` and setattr() on a library's module are how patches look.
    assignment = re.compile(
        r"^\s*[a-z_][a-z0-9_]*\.[A-Z][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*\s*=[^=]"
    )
    patching = re.compile(r"setattr\((whoosh|frontmatter|yaml|click|[a-z_]+\.[A-Z])")
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "search").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if assignment.search(line) or patching.search(line)
    ]
    assert offenders == []
