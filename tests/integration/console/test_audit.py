"""The console's Audit page on both stores: filter, paging both ways, an entry with its proof, the log's
state, verify now as server-sent events, export as JSON lines, a checkpoint signed through the form;
who may see it, CSRF, and markup in entries kept inert."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from trainer_ops.app import Ops
from trainer_ops.audit.types import Action, Actor

from ..support import ADMIN_TOKEN, entries_after, newest_seq, tamper
from .helpers import browser, new_token, signed_in

AUDIT = "/console/audit"
EVIL = "<script>alert(1)</script><img src=x onerror=alert(1)>"


def add_entries(
    ops: Ops, count: int, *, user: str = "bulk", action: Action = Action.RELOAD, target: str = "t"
) -> int:
    """`count` entries by `user` in one unit; returns the last seq."""
    actor = Actor(user_id=user, role="admin", scope={})
    seqs = ops.write(
        lambda session: [
            ops.audit.append(session, actor=actor, action=action, target=f"{target}-{n}")
            for n in range(count)
        ]
    )
    return int(seqs[-1])


def seqs_on(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<th scope="row"><a href="/console/audit/(\d+)"', html)]


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return found.group(1).replace("&amp;", "&") if found else None


def admin(client: TestClient) -> tuple[TestClient, str]:
    page = browser(client)
    return page, signed_in(page, ADMIN_TOKEN)


def test_the_filter_shows_only_the_users_and_actions_entries_newest_first(
    client: TestClient, ops: Ops
) -> None:
    add_entries(ops, 3, user="kim", action=Action.RELOAD)
    add_entries(ops, 2, user="kim", action=Action.PUBLISH)
    last = add_entries(ops, 2, user="lee", action=Action.RELOAD)
    page, _ = admin(client)

    html = page.get(AUDIT, params={"user": "kim", "action": "reload"}).text

    api = client.get("/operator/ops/audit", params={"userId": "kim", "action": "reload"}).json()["items"]
    assert seqs_on(html) == [item["seq"] for item in api]
    assert len(seqs_on(html)) == 3
    assert '<option value="reload" selected>' in html
    assert 'value="kim"' in html
    both = page.get(AUDIT, params=[("user", "kim"), ("action", ""), ("action", "reload,publish")]).text
    assert len(seqs_on(both)) == 5
    everything = page.get(AUDIT).text
    assert seqs_on(everything)[1] == last  # after the sign-in


def test_paging_by_cursor_goes_back_and_forth_and_keeps_the_filter(client: TestClient, ops: Ops) -> None:
    add_entries(ops, 120, user="pager")
    add_entries(ops, 5, user="other")
    page, _ = admin(client)
    api: list[int] = []
    cursor = None
    while True:
        body = client.get(
            "/operator/ops/audit", params={"userId": "pager", "limit": 50, "cursor": cursor}
        ).json()
        api += [item["seq"] for item in body["items"]]
        if not (cursor := body["nextCursor"]):
            break

    first = page.get(AUDIT, params={"user": "pager"}).text
    older = link(first, "next")
    assert older is not None
    assert "user=pager" in older
    assert "tops_" not in older
    assert link(first, "prev") is None
    second = page.get(older).text
    third = page.get(link(second, "next") or "").text
    assert seqs_on(first) + seqs_on(second) + seqs_on(third) == api
    assert link(third, "next") is None
    back = page.get(link(third, "prev") or "").text
    assert seqs_on(back) == seqs_on(second)
    assert seqs_on(page.get(link(back, "prev") or "").text) == seqs_on(first)


def test_times_in_the_operators_zone_epoch_and_iso_select_the_same_window(
    client: TestClient, ops: Ops
) -> None:
    add_entries(ops, 3, user="timed")
    page, _ = admin(client)
    items = client.get("/operator/ops/audit", params={"userId": "timed"}).json()["items"]
    moment = items[0]["timestamp"]
    seoul = datetime.fromtimestamp(moment, tz=ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%dT%H:%M")
    page.cookies.set("trainer_ops_tz", "Asia/Seoul", path="/console")

    local = page.get(AUDIT, params={"user": "timed", "from": seoul, "to": seoul}).text
    epoch = page.get(AUDIT, params={"user": "timed", "from": moment - 60, "to": moment + 60}).text
    iso = datetime.fromtimestamp(moment - 60, tz=UTC).isoformat()
    by_iso = page.get(AUDIT, params={"user": "timed", "from": iso}).text
    before = page.get(AUDIT, params={"user": "timed", "to": moment - 3600}).text

    assert len(seqs_on(local)) == 3  # to the minute, both ends included
    assert seqs_on(epoch) == seqs_on(local) == seqs_on(by_iso)
    assert seqs_on(before) == []
    assert f'value="{seoul}"' in local


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "nan"}, "to"),
        ({"action": "explode"}, "action"),
        ({"user": "x" * 200}, "user"),
    ],
)
def test_a_bad_filter_value_is_named_at_its_field(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    page, _ = admin(client)
    answer = page.get(AUDIT, params=params)
    assert answer.status_code == 422
    assert f'aria-invalid="true" aria-describedby="{field}-error"' in answer.text
    assert f'id="{field}-error"' in answer.text


def test_a_cursor_not_handed_out_is_said_on_the_page(client: TestClient) -> None:
    page, _ = admin(client)
    answer = page.get(AUDIT, params={"cursor": "bm90LWEtY3Vyc29y"})
    assert answer.status_code == 422
    assert "This page link is not valid any more" in answer.text


def test_the_log_state_shows_the_newest_entry_and_the_verified_checkpoint(
    client: TestClient, ops: Ops
) -> None:
    add_entries(ops, 4)
    made = ops.checkpoints.make()
    page, _ = admin(client)
    html = page.get(AUDIT).text
    assert f'<a href="/console/audit/{newest_seq(client)}">' in html
    assert f"{made.size} entries" in html
    assert "signature verified" in html
    assert made.root.hex() in html
    assert ops.checkpoints.verifier_key.split("+")[1] in html  # the key id
    assert "Verify now" in html
    assert "Sign a checkpoint now" in html


def test_an_entry_shows_its_canonical_json_hashes_and_a_verified_proof(client: TestClient, ops: Ops) -> None:
    seq = add_entries(ops, 9, target="proved")
    ops.checkpoints.make()
    page, _ = admin(client)
    html = page.get(f"{AUDIT}/{seq - 4}").text
    with ops.database.engine.connect() as connection:
        body, prev_hash, digest, leaf, mac = connection.execute(
            text(f"SELECT body, prev_hash, hash, leaf_hash, mac FROM audit_entries WHERE seq = {seq - 4}")
        ).one()
    proof = client.get("/operator/ops/audit/proof", params={"seq": seq - 4}).json()
    assert body.replace('"', "&#34;") in html
    for value in (prev_hash, digest, leaf, mac, proof["rootHash"], *proof["proof"]):
        assert value in html
    assert "Verified: this entry is in the tree" in html
    assert page.get(f"{AUDIT}/{seq + 1000}").status_code == 404


def test_an_entry_no_checkpoint_covers_offers_to_sign_one_through_the_form(
    client: TestClient, ops: Ops
) -> None:
    page, csrf = admin(client)
    seq = add_entries(ops, 2)
    assert "No signed checkpoint covers this entry yet" in page.get(f"{AUDIT}/{seq}").text

    answer = page.post(
        f"{AUDIT}/checkpoint", data={"csrf": csrf, "next": f"{AUDIT}/{seq}"}, follow_redirects=False
    )

    assert (answer.status_code, answer.headers["location"]) == (303, f"{AUDIT}/{seq}")
    assert client.get("/operator/ops/audit/checkpoint").json()["size"] >= seq
    assert "Verified: this entry is in the tree" in page.get(f"{AUDIT}/{seq}").text


@pytest.mark.parametrize("csrf", [None, "wrong"])
def test_signing_a_checkpoint_without_the_csrf_token_is_refused(
    client: TestClient, ops: Ops, csrf: str | None
) -> None:
    page, _ = admin(client)
    add_entries(ops, 2)
    data = {"csrf": csrf} if csrf else {}
    answer = page.post(f"{AUDIT}/checkpoint", data=data)
    assert answer.status_code == 403
    assert "console.csrf_failed" in answer.text
    assert client.get("/operator/ops/audit/checkpoint").status_code == 404


def test_a_tampered_entry_shows_its_proof_not_verified(client: TestClient, ops: Ops) -> None:
    seq = add_entries(ops, 5, target="victim")
    ops.checkpoints.make()
    tamper(
        ops, f"UPDATE audit_entries SET body = replace(body, 'victim-2', 'victim-9') WHERE seq = {seq - 2}"
    )
    page, _ = admin(client)
    html = page.get(f"{AUDIT}/{seq - 2}").text
    assert "Not verified." in html
    assert "no longer matches its leaf hash" in html


def sse_events(body: str) -> list[tuple[str, str]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = block.split("\n")
        name = lines[0].removeprefix("event: ")
        events.append((name, "\n".join(line.removeprefix("data: ") for line in lines[1:])))
    return events


def test_verify_now_streams_progress_then_intact(client: TestClient, ops: Ops) -> None:
    add_entries(ops, 12_345)
    page, _ = admin(client)
    total = newest_seq(client)
    fragment = page.get(f"{AUDIT}/verify", headers={"HX-Request": "true"}).text
    assert 'sse-connect="/console/audit/verify/events"' in fragment
    assert 'sse-close="done"' in fragment

    answer = page.get(f"{AUDIT}/verify/events")

    assert answer.headers["content-type"].startswith("text/event-stream")
    events = sse_events(answer.text)
    names = [name for name, _ in events]
    assert names[-2:] == ["result", "done"]
    assert set(names[:-2]) == {"progress"}
    progress = [int(m) for _, data in events[:-2] for m in re.findall(r"Checked (\d+) of", data)]
    assert progress[0] == 0
    assert 10_000 in progress
    assert progress[-1] == total
    assert f"Intact: {total} entries checked" in events[-2][1]


def test_verify_now_names_the_first_bad_entry_of_a_tampered_log(client: TestClient, ops: Ops) -> None:
    seq = add_entries(ops, 6, target="victim")
    tamper(
        ops, f"UPDATE audit_entries SET body = replace(body, 'victim-1', 'victim-7') WHERE seq = {seq - 4}"
    )
    page, _ = admin(client)
    [(_, result)] = [
        event for event in sse_events(page.get(f"{AUDIT}/verify/events").text) if event[0] == "result"
    ]
    assert "Tampered" in result
    assert f'<a href="/console/audit/{seq - 4}">{seq - 4}</a>' in result
    assert "hash does not match" in result


def test_export_streams_the_filtered_entries_as_the_apis_json_lines(client: TestClient, ops: Ops) -> None:
    add_entries(ops, 620, user="exported", action=Action.PUBLISH)
    add_entries(ops, 3, user="exported", action=Action.RELOAD)
    page, _ = admin(client)

    with page.stream("GET", f"{AUDIT}/export", params={"user": "exported", "action": "publish"}) as answer:
        assert answer.headers["content-type"] == "application/x-ndjson"
        assert answer.headers["content-disposition"].startswith('attachment; filename="audit-')
        assert "content-length" not in answer.headers  # streamed, not gathered first
        lines = [orjson.loads(line) for line in answer.iter_lines() if line]

    api: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"userId": "exported", "action": "publish", "limit": 500, "cursor": cursor}
        body = client.get("/operator/ops/audit", params=params).json()
        api += body["items"]
        if not (cursor := body["nextCursor"]):
            break
    assert lines == api
    assert len(lines) == 620


def test_a_bad_export_filter_goes_back_to_the_form(client: TestClient) -> None:
    page, _ = admin(client)
    answer = page.get(f"{AUDIT}/export", params={"from": "soon"}, follow_redirects=False)
    assert answer.status_code == 303
    assert page.get(answer.headers["location"]).status_code == 422


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("region", {"region": "EU"}),
        ("country", {"region": "EU", "country": "DE"}),
        ("branch", {"branch": "DE-0001"}),
    ],
)
def test_operators_below_admin_are_refused_every_audit_page(
    client: TestClient, ops: Ops, role: str, scope: dict[str, str]
) -> None:
    token, _ = new_token(ops, role, **scope)
    page = browser(client)
    signed_in(page, token)
    assert 'href="/console/audit"' not in page.get("/console").text
    for path in (AUDIT, f"{AUDIT}/1", f"{AUDIT}/verify", f"{AUDIT}/verify/events", f"{AUDIT}/export"):
        answer = page.get(path)
        assert answer.status_code == 403, path
        assert "access.denied" in answer.text


def test_a_region_operator_posting_a_checkpoint_by_hand_is_refused_and_audited(
    client: TestClient, ops: Ops
) -> None:
    token, _ = new_token(ops, "region", user="eu-ops", region="EU")
    page = browser(client)
    csrf = signed_in(page, token)
    add_entries(ops, 2)
    before = newest_seq(client)

    answer = page.post(f"{AUDIT}/checkpoint", data={"csrf": csrf})

    assert answer.status_code == 403
    assert "access.denied" in answer.text
    assert client.get("/operator/ops/audit/checkpoint").status_code == 404
    [denial] = entries_after(client, before)
    assert (denial["action"], denial["target"]) == ("access_denied", "audit.checkpoint")
    assert denial["actor"]["userId"] == "eu-ops"
    assert denial["details"]["via"] == "console"


def test_console_entries_are_marked_and_name_the_operator(client: TestClient, ops: Ops) -> None:
    token, _ = new_token(ops, "admin", user="ops-park")
    page = browser(client)
    signed_in(page, token)  # console_sign_in, caused by the console
    html = page.get(AUDIT, params={"user": "ops-park"}).text
    [seq] = seqs_on(html)
    assert '<span class="tag">console</span>' in html
    entry = client.get("/operator/ops/audit", params={"userId": "ops-park"}).json()["items"][0]
    assert (entry["seq"], entry["details"]["via"], entry["action"]) == (seq, "console", "console_sign_in")


def test_markup_in_an_entry_is_inert_text(client: TestClient, ops: Ops) -> None:
    seq = add_entries(ops, 1, user=EVIL, target=EVIL)
    page, _ = admin(client)
    for html in (page.get(AUDIT).text, page.get(f"{AUDIT}/{seq}").text):
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
