"""parse_if_match: the versions an If-Match header names.

A header that is not a list of entity tags is a 400. A well-formed tag that is not one of our strong
ETags (a weak tag, or a quoted value that is not a version number) names no version: RFC 9110 compares
If-Match strongly, so such a tag matches nothing and the change is refused with 412.
"""

from __future__ import annotations

import pytest

from trainer_ops.errors import BadRequest
from trainer_ops.http.etag import parse_if_match
from trainer_ops.versions.snapshot import make_etag


@pytest.mark.parametrize("value", [None, "*", "", "  *  "])
def test_absent_or_any_version_is_none(value: str | None) -> None:
    assert parse_if_match(value) is None


@pytest.mark.parametrize(("value", "version"), [('"3"', 3), (' "12" ', 12), ('"1"', 1)])
def test_etag_names_its_version(value: str, version: int) -> None:
    assert parse_if_match(value) == frozenset({version})


@pytest.mark.parametrize("version", [1, 2, 99, 10**6])
def test_our_own_etags_round_trip(version: int) -> None:
    assert parse_if_match(make_etag(version)) == frozenset({version})


@pytest.mark.parametrize("value", ["garbage", "W/", "abc", "3", '"3" x', '"3" "4"', '"3', "W/3"])
def test_garbage_is_a_bad_request(value: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_if_match(value)
    assert caught.value.code == "http.bad_if_match"
    assert caught.value.status == 400


@pytest.mark.parametrize("value", ['W/"3"', 'W/"x"', '""', '"abc"', '"3.0"'])
def test_weak_or_non_numeric_tags_match_nothing(value: str) -> None:
    assert parse_if_match(value) == frozenset()


def test_a_list_of_etags_is_not_reduced_to_its_first_tag() -> None:
    # RFC 9110 13.1.1: the condition holds when any listed tag matches, so "3" must not be dropped.
    assert parse_if_match('"2", "3"') == frozenset({2, 3})


def test_a_list_keeps_its_strong_tags_and_ignores_the_others() -> None:
    assert parse_if_match('W/"2" , "abc",  "7"') == frozenset({7})


@pytest.mark.parametrize("value", ['"3_0"', '"+3"', '"-1"', '"\u0663"'])
def test_tags_this_server_never_issues_match_nothing(value: str) -> None:
    # int() would read these as 30, 3, -1 and 3; none is an ETag this server issues.
    assert parse_if_match(value) == frozenset()
