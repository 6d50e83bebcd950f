"""The rewrite edit: exactly the function's lines, right columns in UTF-16, versioned."""

from __future__ import annotations

import pytest
from lsp_helpers import apply_text_edits, edit_of

from perfrl.engine.candidate_check import splice
from perfrl.engine.locate import locate_function_at
from perfrl.lsp.documents import functions_of
from perfrl.lsp.edits import rewrite_edit

CANDIDATE = "def total(values):\n    return sum(values)\n"


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.parametrize("text", [
    ("x = '🙂'\n\n\nclass A:\n    def total(values):\n        s = 0\n        for v in values:\n"
    "            s += v\n        return s\n\n\ny = 1\n"),
    # CRLF line endings and no newline at the end of the file
    ("import os\r\n\r\n\r\ndef total(values):\r\n    s = 0  # 🙂\r\n    for v in values:\r\n"
    "        s += v\r\n    return s"),
    # a byte-order mark in front of a function on the first line
    "\ufeffdef total(values):\n    s = 0\n    for v in values:\n        s += v\n    return s\n",
])
def test_edit_replaces_the_function_only(tmp_path, text):
    path = tmp_path / "m.py"
    path.write_bytes(text.encode())
    line = next(i for i, row in enumerate(text.splitlines()) if "s += v" in row) + 1
    target = locate_function_at(path, line, project_root=tmp_path, text=text)
    (function,) = [f for f in functions_of(text) if f.name == "total"]
    assert function.source == target.source

    rewrite = rewrite_edit("file:///m.py", 4, text, function, target, CANDIDATE, utf16, True)
    uri, version, edits = edit_of(rewrite.edit)
    assert (uri, version) == ("file:///m.py", 4)
    expected = splice(target, CANDIDATE)
    assert apply_text_edits(text, edits) == expected
    assert [f.source for f in functions_of(expected) if f.name == "total"] == [
        rewrite.new_source]

    unversioned = rewrite_edit("file:///m.py", 4, text, function, target, CANDIDATE, utf16,
                               False)
    assert edit_of(unversioned.edit) == ("file:///m.py", None, edits)
