"""How `tongfang import` cuts a file into batches (the posting itself is tested on the stack:
tests/e2e/test_late_records.py)."""

from __future__ import annotations

from services.importer import batches


def test_batches_keep_line_numbers_skip_blank_lines_and_respect_both_limits():
    lines = [b'{"a":1}\n', b"\n", b'{"b":22}\n', b'{"c":333}\n', b"   \n", b'{"d":4}']
    by_count = list(batches(lines, max_events=2, max_bytes=1000))
    assert by_count == [[(1, b'{"a":1}'), (3, b'{"b":22}')], [(4, b'{"c":333}'), (6, b'{"d":4}')]]
    # "[" + 7 + "," + 8 + "]" = 18 bytes fits in 20; adding 9 more would not.
    by_size = list(batches(lines, max_events=100, max_bytes=20))
    assert [[number for number, _ in batch] for batch in by_size] == [[1, 3], [4, 6]]
    assert list(batches([b"\n", b""], 10, 100)) == []


def test_a_line_larger_than_the_limit_goes_alone():
    lines = [b"x" * 50, b"y"]
    assert [[number for number, _ in batch] for batch in batches(lines, 10, 20)] == [[1], [2]]
