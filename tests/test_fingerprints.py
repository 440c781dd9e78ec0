from __future__ import annotations

from pathlib import Path

import pytest
from sarif_fixtures import PAGE_OWNER, make_result, make_tree

from kmeminit.analyzer.model import Level, Location
from kmeminit.analyzer.results import Finding
from kmeminit.analyzer.triage import triage
from kmeminit.analyzer.triage.fingerprints import kmeminit_fingerprint, line_hashes
from kmeminit.sarif import to_sarif

# From github/codeql-action src/fingerprints.test.ts: the algorithm's own expectations.
UPSTREAM = [
    ("", ["c129715d7a2bc9a3:1"]),
    (" a\nb\n  \t\tc\n d",
     ["271789c17abda88f:1", "54703d4cd895b18:1", "180aee12dab6264:1", "a23a3dc5e078b07b:1"]),
    (" hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End",
     ["8b7cf3e952e7aeb2:1", "b1ae1287ec4718d9:1", "bff680108adb0fcc:1", "c6805c5e1288b612:1",
      "b86d3392aea1be30:1", "e6ceba753e1a442:1"]),
]
WITH_NEWLINE = ["e9496ae3ebfced30:1", "fb7c023a8b9ccb3f:1", "ce8ba1a563dcdaca:1",
                "e20e36e16fcb0cc8:1", "b3edc88f2938467e:1", "c8e28b0b4002a3a0:1",
                "c129715d7a2bc9a3:1"]
UPSTREAM += [(text, WITH_NEWLINE) for text in [
    " hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End\n",
    " hello; \t\nworld!!!\r\r\r  \t\tGreetings\r End\r",
    " hello; \t\r\nworld!!!\r\n\r\n\r\n  \t\tGreetings\r\n End\r\n",
    " hello; \t\nworld!!!\r\n\n\r  \t\tGreetings\r End\r\n",
]]
UPSTREAM.append(("Lorem ipsum dolor sit amet.\n" * 10,
                 [f"a7f2ff13bc495cf2:{i}" for i in range(1, 7)] +
                 ["a7f2ff1481e87703:1", "a9cf91f7bbf1862b:1", "55ec222b86bcae53:1",
                  "cc97dc7b1d7d8f7b:1", "c129715d7a2bc9a3:1"]))

# Cross-checked against a line-by-line JavaScript port of fingerprints.ts (BigInt in place
# of Long) reading the file through fs.createReadStream(..., "utf8") in 7-byte chunks:
# covers a non-BMP character (two UTF-16 units), invalid UTF-8, CRLF, a form feed and a
# line longer than BLOCK_SIZE.
TRICKY = (b"int f(void)\n{\n\t/* \xf0\x9f\x98\x80 caf\xc3\xa9 \xff\xfe bad */\n\treturn 0;\r\n}\n"
          + b"x" * 250 + b"\n\n\x0c\n")
TRICKY_HASHES = ["78ae1a545681e54c:1", "7a310d426d9169a6:1", "916f5cf3497c6245:1",
                 "63ca99911d32a9a4:1", "b5de2332a6b17eb3:1", "52b56201ffb58620:1",
                 "ee05ad32f19931bf:1", "6eb1e256ec039e31:1", "c129715d7a2bc9a3:1"]


@pytest.mark.parametrize("text,expected", UPSTREAM + [(TRICKY, TRICKY_HASHES)])
def test_primary_location_line_hash_vectors(text, expected):
    assert line_hashes(text) == {i + 1: h for i, h in enumerate(expected)}


def test_line_hash_str_and_bytes_agree():
    assert line_hashes(PAGE_OWNER) == line_hashes(PAGE_OWNER.encode())
    assert 999 not in line_hashes(PAGE_OWNER)


def _finding(line: int, template: str = "{page} used before init", page: str = "page"):
    return Finding.make("KMI003", Level.WARNING, template, Location("/x.c", line, 2),
                        "init_pages", page=page)


def test_kmeminit_fingerprint_ignores_whitespace_and_message_arguments():
    base = kmeminit_fingerprint(_finding(8), "mm/page_owner.c", "\tset_page_owner(page, 0, 0);")
    assert base == kmeminit_fingerprint(_finding(80, page="pg"), "mm/page_owner.c",
                                        "set_page_owner( page,0,0 );  ")
    assert len(base) == 64 and int(base, 16) >= 0
    for other in [kmeminit_fingerprint(_finding(8, "{page} not init"), "mm/page_owner.c",
                                       "set_page_owner(page, 0, 0);"),
                  kmeminit_fingerprint(_finding(8), "mm/other.c", "set_page_owner(page, 0, 0);"),
                  kmeminit_fingerprint(_finding(8), "mm/page_owner.c", "set_page_owner(pg);")]:
        assert other != base


def _prints(src: Path) -> dict[str, str]:
    result = to_sarif(triage(make_result(src)))["runs"][0]["results"][1]
    return result["partialFingerprints"]


def test_fingerprints_survive_lines_inserted_above(tmp_path):
    src = make_tree(tmp_path)
    before = _prints(src)
    c_file = src / "mm" / "page_owner.c"
    lines = PAGE_OWNER.splitlines(keepends=True)
    c_file.write_text("".join(lines[:3] + ["/* a comment */\n", "\n"] + lines[3:]))
    moved = make_result(src)
    shifted = tuple(
        Finding(f.rule, f.level, f.template, f.args,
                Location(f.location.file, f.location.line + 2, f.location.col,
                         f.location.end_line + 2, f.location.end_col), f.function)
        for f in moved.findings)
    result = to_sarif(triage(type(moved)(moved.rules, shifted, moved.notifications,
                                         moved.invocation)))
    after = [r for r in result["runs"][0]["results"] if r["ruleId"] == "KMI003"][0]
    assert after["partialFingerprints"] == before


def test_line_hashes_up_to_a_line_are_those_of_the_whole_text() -> None:
    """Triage hashes a file only as far as its findings (docs/bench.md): the prefix must be
    exactly the whole text's, for every cut, including around the 100-character window."""
    import random

    rnd = random.Random(7)
    texts = [PAGE_OWNER, PAGE_OWNER.replace("\n", "\r\n"), "a\n" * 300,
             "".join(rnd.choice(["x" * rnd.randint(0, 150), " ", "\t", "\n", "\r\n", "\r", "é"])
                     for _ in range(2000))]
    for text in texts:
        whole = line_hashes(text)
        for until in range(0, max(whole) + 3):
            part = line_hashes(text, until=until)
            assert all(whole[line] == value for line, value in part.items())
            assert all(line in part for line in whole if line <= until)
