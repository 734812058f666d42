"""Broadcaster replay: resume after an id replays what was missed; an unknown or too old id resyncs."""

from __future__ import annotations

from trainer_ops.sync.broadcaster import Broadcaster


def test_resume_replays_exactly_the_missed_events() -> None:
    hub = Broadcaster(replay=10)
    first = hub.publish("document", {"n": 1})
    hub.publish("document", {"n": 2})
    hub.publish("document", {"n": 3})
    missed = hub.since(first.id)
    assert missed is not None
    assert [e.data["n"] for e in missed] == [2, 3]
    assert hub.since(hub.last_id) == []


def test_an_id_from_another_process_or_too_old_asks_for_a_resync() -> None:
    hub = Broadcaster(replay=3)
    first = hub.publish("document", {"n": 1})
    for n in range(2, 8):
        hub.publish("document", {"n": n})
    assert hub.since(first.id) is None  # fell out of the replay log
    assert hub.since("deadbeef-1") is None  # another epoch: a restart or another replica
    assert hub.since(f"{hub.epoch}-999") is None  # from the future
    assert hub.since("garbage") is None


def test_a_last_event_id_whose_seq_is_not_ascii_digits_asks_for_a_resync() -> None:
    hub = Broadcaster(replay=3)
    hub.publish("document", {"n": 1})
    # A header byte 0xB2 reads as '²' (latin-1): str.isdigit() says yes, int() says no.
    for seq in ("\u00b2", "\u0661", "1\u00b2", "+1", " 1", "9" * 40):  # ², Arabic-Indic 1
        assert hub.since(f"{hub.epoch}-{seq}") is None, seq
