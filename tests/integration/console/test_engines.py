"""The Engines page on both stores: what each role sees and may reload, ruleset upload by paste and by
file with validation errors at the field, and the reload's live stream (ACKs then applied; NACK then
rollback), audited as the operator via the console, and refused by the server when the policy says so."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from trainer_ops.app import Ops

from ..support import ADMIN_TOKEN, entries_after, newest_seq
from .helpers import Nacking, browser, csrf_of, new_token, signed_in

GOOD = {"transforms": [], "allowedFormats": ["text/plain"]}
NDJSON = {"Accept": "application/x-ndjson"}


def upload(client: TestClient, engine: str, target: str, ruleset: dict[str, Any]) -> None:
    answer = client.put(f"/operator/ops/engines/{engine}/rulesets/{target}", json=ruleset)
    assert answer.status_code in (200, 201), answer.text


def active(client: TestClient, engine: str) -> str:
    rows = {row["type"]: row for row in client.get("/operator/ops/engines").json()}
    return str(rows[engine]["activeTargetId"])


def events(answer: Any) -> list[dict[str, Any]]:
    assert answer.headers["content-type"].startswith("application/x-ndjson"), answer.text
    return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


def test_an_admin_sees_every_engine_its_active_ruleset_and_reload_controls(client: TestClient) -> None:
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    html = page.get("/console/engines").text
    assert '<th scope="row"><a href="/console/engines/scenario">scenario</a></th>' in html
    assert "activated by system" in html
    assert html.count('action="/console/engines/reload"') == 8
    assert "Rulesets of content" in html
    assert 'src="/console/static/engines.js' in html


def test_a_region_operator_gets_reload_controls_only_for_the_engines_the_policy_names(
    client: TestClient, ops: Ops
) -> None:
    token, _ = new_token(ops, "region", region="EU")
    page = browser(client)
    signed_in(page, token)
    answer = page.get("/console/engines")
    assert answer.status_code == 200
    html = answer.text
    for engine in ("content", "missions", "gamification"):
        assert f'name="engine" value="{engine}"' in html
    for engine in ("scenario", "prompt", "difficulty", "upm", "insights"):
        assert f'name="engine" value="{engine}"' not in html
    assert "Active ruleset" not in html  # artifacts are admin-only
    assert page.get("/console/engines/content/rulesets").status_code == 403


def test_a_branch_operator_has_no_engines_page_and_the_denial_is_audited(
    client: TestClient, ops: Ops
) -> None:
    token, _ = new_token(ops, "branch", user="branch-kim", branch="DE-0001")
    page = browser(client)
    signed_in(page, token)
    assert "/console/engines" not in page.get("/console").text
    before = newest_seq(client)
    answer = page.get("/console/engines")
    assert answer.status_code == 403
    [denial] = entries_after(client, before)
    assert (denial["action"], denial["target"]) == ("access_denied", "hot_reload")
    assert denial["details"]["via"] == "console"


def post_upload(page: TestClient, csrf: str, target: str, pasted: str, status: int) -> str:
    answer = page.post(
        "/console/engines/difficulty/rulesets",
        data={"csrf": csrf, "targetId": target, "pasted": pasted},
        files={"file": ("", b"", "application/octet-stream")},
        follow_redirects=False,
    )
    assert answer.status_code == status, answer.text
    return answer.text


def test_a_pasted_ruleset_with_errors_is_refused_at_its_field_and_nothing_is_stored(
    client: TestClient,
) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    bad = {"levels": [{"name": "x", "minScore": "low", "maxScore": 10}], "adaptiveStep": 0.1}
    html = post_upload(page, csrf, "d-bad", json.dumps(bad), 422)
    assert 'id="pasted"' in html
    assert 'aria-invalid="true" aria-describedby="ruleset-errors"' in html
    assert '<code class="path">levels/0/minScore</code>' in html
    assert "&#34;low&#34;" in html  # the offending value, escaped
    assert client.get("/operator/ops/engines/difficulty/rulesets/d-bad").status_code == 404
    html = post_upload(page, csrf, "d-bad", "{not json", 400)
    assert "This is not valid JSON" in html


def test_a_valid_paste_and_a_file_are_stored_as_the_api_shows(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    ruleset = {"transforms": [], "allowedFormats": ["text/markdown"]}
    answer = page.post(
        "/console/engines/content/rulesets",
        data={"csrf": csrf, "targetId": "c-file"},
        files={"file": ("c.json", json.dumps(ruleset).encode(), "application/json")},
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/console/engines/content/rulesets/c-file?uploaded=1",
    )
    stored = client.get("/operator/ops/engines/content/rulesets/c-file").json()
    assert stored["ruleset"] == ruleset
    view = page.get(answer.headers["location"]).text
    assert "Uploaded and validated" in view
    assert "text/markdown" in view


def test_a_file_upload_is_bounded_by_the_upload_limit_not_the_json_body_limit(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    big = (json.dumps(GOOD) + " " * 1_500_000).encode()  # over the 1 MiB JSON limit, valid JSON still

    def send(target: str) -> Any:
        return page.post(
            "/console/engines/content/rulesets",
            data={"csrf": csrf, "targetId": target},
            files={"file": ("big.json", big, "application/json")},
            follow_redirects=False,
        )

    assert send("c-big").status_code == 303
    assert client.patch("/operator/ops/limits", json={"fileUploadLimitMb": 1}).status_code == 200
    assert send("c-bigger").status_code == 413
    assert client.get("/operator/ops/engines/content/rulesets/c-bigger").status_code == 404


def test_an_upload_without_or_with_a_wrong_csrf_token_is_403_and_stores_nothing(client: TestClient) -> None:
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    for csrf in ("", "wrong"):
        answer = page.post(
            "/console/engines/content/rulesets",
            data={"csrf": csrf, "targetId": "c-x", "pasted": json.dumps(GOOD)},
            files={"file": ("", b"", "application/octet-stream")},
        )
        assert answer.status_code == 403
    assert client.get("/operator/ops/engines/content/rulesets/c-x").status_code == 404


def test_the_reload_stream_tells_acks_then_applied_and_audits_the_operator(client: TestClient) -> None:
    upload(client, "content", "c2", GOOD)
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    before = newest_seq(client)
    answer = page.post(
        "/console/engines/reload", data={"csrf": csrf, "engine": "content", "targetId": "c2"}, headers=NDJSON
    )
    phases = [e["phase"] for e in events(answer)]
    assert phases == ["started", "joined", "reply", "activated", "applied"]
    assert active(client, "content") == "c2"
    [entry] = [e for e in entries_after(client, before) if e["action"] == "reload"]
    assert entry["target"] == "content"
    assert entry["details"]["via"] == "console"
    assert entry["actor"]["role"] == "admin"


def test_the_reload_stream_tells_the_nack_then_the_rollback(client: TestClient, ops: Ops) -> None:
    upload(client, "content", "c3", GOOD)
    ops.engines.add_instance("content", Nacking())
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    answer = page.post(
        "/console/engines/reload", data={"csrf": csrf, "engine": "content", "targetId": "c3"}, headers=NDJSON
    )
    told = events(answer)
    phases = [e["phase"] for e in told]
    assert phases[0] == "started"
    assert phases[-2:] == ["rollback", "rolled_back"]
    nack = next(e for e in told if e["phase"] == "reply" and not e["data"]["ok"])
    assert nack["data"]["instance"] == "sdk-flaky"
    assert "NACK" in nack["html"]
    assert "unsupported format" in nack["html"]
    assert "back on initial" in told[-1]["html"]
    assert active(client, "content") == "initial"
    entry = client.get("/operator/ops/audit", params={"action": "reload"}).json()["items"][0]
    assert (entry["outcome"], entry["details"]["via"]) == ("rolled_back", "console")


def test_without_javascript_the_reload_answers_with_the_whole_result_page(client: TestClient) -> None:
    upload(client, "content", "c4", GOOD)
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    answer = page.post("/console/engines/reload", data={"csrf": csrf, "engine": "content", "targetId": "c4"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "ACK" in answer.text
    assert "Applied: content runs c4" in answer.text
    missing = page.post(
        "/console/engines/reload", data={"csrf": csrf, "engine": "content", "targetId": "nope"}
    )
    assert missing.status_code == 404
    assert "engines.ruleset_not_found" in missing.text


def test_a_reload_the_policy_forbids_is_refused_even_when_posted_by_hand(
    client: TestClient, ops: Ops
) -> None:
    scenario = {"id": "upsell", "title": "Suggest an accessory", "objectives": ["offer one"], "difficulty": 2}
    upload(client, "scenario", "s-any", {"scenarios": [scenario]})
    token, _ = new_token(ops, "region", user="region-lee", region="EU")
    page = browser(client)
    signed_in(page, token)
    csrf = csrf_of(page.get("/console/engines").text)
    before = newest_seq(client)
    answer = page.post(
        "/console/engines/reload",
        data={"csrf": csrf, "engine": "scenario", "targetId": "s-any"},
        headers=NDJSON,
    )
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    [denial] = entries_after(client, before)
    assert (denial["action"], denial["actor"]["userId"]) == ("access_denied", "region-lee")
    assert denial["details"]["via"] == "console"
    assert active(client, "scenario") == "initial"
    for bad in ("", "wrong"):  # and without the session's CSRF token, nothing happens at all
        refused = page.post(
            "/console/engines/reload", data={"csrf": bad, "engine": "content", "targetId": "x"}
        )
        assert refused.status_code == 403


def test_markup_in_a_ruleset_and_a_reload_error_is_inert(client: TestClient, ops: Ops) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    upload(client, "content", "c-evil", {"transforms": [], "allowedFormats": [evil]})
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    view = page.get("/console/engines/content/rulesets/c-evil").text
    assert "<script>alert" not in view
    assert "<img src=x" not in view
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in view

    class Evil(Nacking):
        instance_id = evil

    ops.engines.add_instance("content", Evil())
    answer = page.post(
        "/console/engines/reload",
        data={"csrf": csrf, "engine": "content", "targetId": "c-evil"},
        headers=NDJSON,
    )
    html = "".join(e["html"] for e in events(answer))
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
