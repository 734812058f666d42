"""Side-by-side differences of two documents."""

from __future__ import annotations

from trainer_ops.console.diffs import DiffRow, side_by_side


def test_leaves_are_compared_by_path_and_each_row_says_how_it_changed() -> None:
    left = {"model": "gpt-5.1", "temperature": 0.4, "tags": ["a", "b"], "old": True}
    right = {"model": "gpt-5.1", "temperature": 0.2, "tags": ["a"], "new": {"x": 1}}
    assert side_by_side(left, right) == [
        DiffRow("model", '"gpt-5.1"', '"gpt-5.1"', "same"),
        DiffRow("temperature", "0.4", "0.2", "changed"),
        DiffRow("tags.0", '"a"', '"a"', "same"),
        DiffRow("tags.1", '"b"', "", "removed"),
        DiffRow("old", "true", "", "removed"),
        DiffRow("new.x", "", "1", "added"),
    ]


def test_only_changes_leaves_out_equal_rows_and_text_is_not_escaped_twice() -> None:
    rows = side_by_side({"a": 1, "b": "<script>"}, {"a": 1, "b": "한국"}, only_changes=True)
    assert rows == [DiffRow("b", '"<script>"', '"한국"', "changed")]


def test_empty_containers_and_scalars_are_leaves() -> None:
    assert side_by_side({"a": {}}, {"a": []}) == [DiffRow("a", "{}", "[]", "changed")]
    assert side_by_side(1, 2) == [DiffRow("", "1", "2", "changed")]
