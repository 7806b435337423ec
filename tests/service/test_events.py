"""The events router: /v1/events fires moments that are decided and logged, /v1/outbox."""

from __future__ import annotations

from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

from .server import PROFILE, Server, customer_event, plan_copy, post_and_wait, post_events  # noqa: E402


def test_events_fire_moments_that_are_decided_logged_and_put_in_the_outbox(tmp_path: Path) -> None:
    server = Server(plan_copy(tmp_path), "--no-watch", "--moment-clock", "events").start()
    try:
        base = server.base
        profile = {**PROFILE, "customer_id": "m1"}
        first = post_events(base, {"event": customer_event("m1", "complaint", "2026-11-01T10:00:00Z",
                                                                        profile=profile)})
        # Stored and acknowledged; the moments are the partition owners' to fire, later.
        assert first.status_code == 202 and first.json()["accepted"] == 1 and first.json()["refused"] == []
        [first_id] = first.json()["event_ids"]
        second = post_and_wait(base, [
            customer_event("m1", "complaint", "2026-11-03T10:00:00Z"), customer_event("m1", "refund", "2026-11-03T11:00:00Z"),
            {"type": "complaint"}, customer_event("m2", "survey_response", "2026-11-03T12:00:00Z", score=3)])
        assert second["accepted"] == 2 and [i is None for i in second["event_ids"]] == [False, True, True, False]
        assert [(r["index"], r["error"][:22]) for r in second["refused"]] == [
            (1, "unknown event type 're"), (2, "the event has no custo")]
        fired = {f["moment"]: f for f in second["fired"]}
        assert set(fired) == {"repeat-complaint", "detractor"}
        assert fired["repeat-complaint"]["decision"]["rule"] == "moment-repeat-complaint"
        assert fired["repeat-complaint"]["decision"]["value_tier"] == "gold"  # the carried profile
        late = post_events(base, {"event": customer_event("m1", "complaint", "2026-11-02T00:00:00Z")})
        assert late.status_code == 422 and late.json()["error"].startswith("late event")
        # Each stored event can be read back: processed, and the moments it completed.
        looked = httpx.get(f"{base}/v1/events/{second['event_ids'][0]}").json()
        assert looked["processed"] is True and [f["moment"] for f in looked["fired"]] == ["repeat-complaint"]
        assert looked["fired"][0]["events"] == [first_id, second["event_ids"][0]]
        assert httpx.get(f"{base}/v1/events/no-such-event").status_code == 404
        items = httpx.get(f"{base}/v1/outbox").json()["items"]
        assert [i["moment"] for i in items] == ["repeat-complaint", "detractor"] or \
            sorted(i["moment"] for i in items) == ["detractor", "repeat-complaint"]
        assert all(i["decision_id"] for i in items)
        assert httpx.get(f"{base}/v1/outbox", params={"after": items[-1]["id"]}).json()["items"] == []
        logged = httpx.get(f"{base}/v1/customers/m1/decisions").json()["decisions"]
        assert fired["repeat-complaint"]["decision_id"] in {d["id"] for d in logged}
        # Logged with the moment's fields among its inputs: the decision replays.
        replayed = httpx.post(f"{base}/v1/decisions/{fired['repeat-complaint']['decision_id']}:reproduce").json()
        assert replayed["reproduces"] is True, replayed
        # A moment's decision counts the log's contacts: two days after a delight, the plan's
        # 30-day cooldown holds the next one back.
        again = post_and_wait(base, [customer_event("m1", "complaint", "2026-11-05T10:00:00Z"),
                                     customer_event("m1", "complaint", "2026-11-05T11:00:00Z")])
        [repeat] = again["fired"]
        assert repeat["moment"] == "repeat-complaint" and repeat["decision"]["treatment"] != "delight"
        replayed = httpx.post(f"{base}/v1/decisions/{repeat['decision_id']}:reproduce").json()
        assert replayed["reproduces"] is True, replayed
        assert post_events(base, {"event": {}, "events": []}).status_code == 422
        assert 'treatment_moments_fired_total{moment="detractor"} 1.0' in httpx.get(f"{base}/metrics").text
    finally:
        server.stop()


def test_a_plan_change_moves_moments_to_a_new_worker(tmp_path: Path) -> None:
    plan = plan_copy(tmp_path)
    server = Server(plan, "--no-watch", "--moment-clock", "events").start()
    try:
        def post(events: list[dict]) -> list[str]:
            return [f["moment"] for f in post_and_wait(server.base, events)["fired"]]

        assert post([customer_event("p1", "complaint", "2026-11-01T00:00:00Z"),
                     customer_event("p1", "complaint", "2026-11-05T00:00:00Z")]) == ["repeat-complaint"]
        moments = plan / "rules" / "moments.yaml"
        moments.write_text(moments.read_text().replace("{event: complaint, within: 30d}",
                                                       "{event: complaint, within: 1d}"))
        assert httpx.post(f"{server.base}/v1/plan:reload").json()["reloaded"] is True
        # The new plan's window is a day: four days apart no longer make a repeat complaint.
        assert post([customer_event("p2", "complaint", "2026-11-06T00:00:00Z"),
                     customer_event("p2", "complaint", "2026-11-10T00:00:00Z")]) == []
        assert post([customer_event("p2", "complaint", "2026-11-10T12:00:00Z")]) == ["repeat-complaint"]
    finally:
        server.stop()


def test_an_event_from_the_future_is_refused_rather_than_firing_every_customers_absences(tmp_path: Path) -> None:
    """With the wall clock (the default), the moments' clock is also the latest event
    stored, any customer's: one event stamped years ahead (a source's wrong clock, a typo)
    made every pending absence pass at once (a stalled install fired for an order placed
    an hour ago) and locked its own customer out of events. It is refused now; with
    --moment-clock events, where time is the events' own, it is taken."""
    from datetime import UTC, datetime, timedelta

    def stamp(delta: timedelta) -> str:
        return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")

    server = Server(plan_copy(tmp_path), "--no-watch").start()
    try:
        ordered = post_and_wait(server.base, [customer_event("f1", "order_placed", stamp(-timedelta(hours=1)))])
        assert ordered["accepted"] == 1 and ordered["fired"] == []
        future = post_events(server.base, {"event": customer_event("f2", "complaint", "2999-01-01T00:00:00Z")})
        assert future.status_code == 422, future.text
        assert future.headers["content-type"] == "application/problem+json"
        assert "in the future" in future.json()["error"] and future.json()["customer_id"] == "f2"
        # Within the tolerance for sources' clocks: taken.
        assert post_and_wait(server.base, [customer_event("f3", "complaint", stamp(timedelta(minutes=1)))])["accepted"] == 1
        after = post_and_wait(server.base, [customer_event("f2", "complaint", stamp(-timedelta(minutes=5)))])
        assert after["accepted"] == 1  # f2 was not locked out by the refused one
        assert httpx.get(f"{server.base}/v1/outbox").json()["items"] == []  # f1's install is not stalled
    finally:
        server.stop()
    replay_like = Server(plan_copy(tmp_path / "events-clock"), "--no-watch", "--moment-clock", "events").start()
    try:
        taken = post_events(replay_like.base, {"event": customer_event("f2", "complaint", "2999-01-01T00:00:00Z")})
        assert taken.status_code == 202, taken.text
    finally:
        replay_like.stop()


def test_a_time_whose_utc_day_is_outside_the_calendar_is_refused_not_stored_to_stall_its_partition(
        tmp_path: Path) -> None:
    """0001-01-01T00:00:00+14:00 is a valid ISO 8601 time whose UTC instant is in year 0.
    It was taken: then the partition owner failed on it at every pass ("year 0 is out of
    range"), so no moment of any customer in that partition ever fired again, and
    GET /v1/customers/{id}/journeys?as_of= with it answered 500."""
    server = Server(plan_copy(tmp_path), "--no-watch").start()
    try:
        for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"):
            refused = post_events(server.base, {"event": customer_event("y0", "complaint", when)})
            assert refused.status_code == 422, refused.text
            assert "no valid timestamp" in refused.json()["error"]
            journeys = httpx.get(f"{server.base}/v1/customers/y0/journeys", params={"as_of": when})
            assert journeys.status_code == 422, journeys.text
        # The calendar's first instant is a time; the customer's partition goes on firing.
        fired = post_and_wait(server.base, [customer_event("y0", "complaint", "0001-01-01T14:00:00+14:00"),
                                            customer_event("y0", "complaint", "0001-01-02T00:00:00Z")])["fired"]
        assert [f["moment"] for f in fired] == ["repeat-complaint"]
        assert fired[0]["fired_at"] == "0001-01-02T00:00:00Z"
    finally:
        server.stop()


def test_a_profile_carried_by_events_is_kept_only_as_far_as_the_plan_reads_it(tmp_path: Path) -> None:
    """The partition owner keeps the profile each event carries, for a moment's decision,
    for up to 100,000 customers. It kept each whole: forty events carrying a 2.5 MB profile
    (150,000 fields the plan never reads) grew the server by over 800 MiB, and would have
    gone on to the 100,000th customer. It keeps the fields the plan reads now, and the
    moment's decision still reads them."""
    import json

    from .test_limits import rss_mib

    if not Path("/proc/self/status").exists():
        pytest.skip("reads RSS from /proc")
    server = Server(plan_copy(tmp_path), "--no-watch", "--moment-clock", "events").start()
    try:
        assert server.process is not None
        padding = {f"u{index}": index for index in range(150_000)}
        before = rss_mib(server.process.pid)
        for batch in range(4):
            events = [customer_event(f"big{batch}-{n}", "complaint", "2026-11-01T10:00:00Z",
                                     profile={**padding, "annual_value": PROFILE["annual_value"]}) for n in range(10)]
            answer = httpx.post(f"{server.base}/v1/events", params={"wait": 60}, content=json.dumps({"events": events}),
                                headers={"content-type": "application/json"}, timeout=180)
            assert answer.status_code == 200 and answer.json()["accepted"] == 10, answer.text[:300]
        grown = rss_mib(server.process.pid) - before
        assert grown < 400, f"the server grew by {grown:.0f} MiB"
        fired = post_and_wait(server.base, [customer_event("big0-0", "complaint", "2026-11-02T10:00:00Z")])["fired"]
        assert [f["moment"] for f in fired] == ["repeat-complaint"]
        assert fired[0]["decision"]["value_tier"] == "gold"  # annual_value, as the event carried it
    finally:
        server.stop()
