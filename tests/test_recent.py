"""The in-memory run of recent messages: it may only save reads, never change what a device is given."""

from hudhud.services.recent import RecentMessages
from hudhud.store.records import Message


def msg(seq: int, sender: str = "ua", conv: str = "c1", stranger: bool = False) -> Message:
    return Message(conv, seq, sender, "da", f"m{seq}", 1.0, b'{"type":"text"}', stranger=stranger)


def test_answers_only_for_a_contiguous_run_it_holds():
    r = RecentMessages(per_conversation=4)
    everyone = frozenset({"ua", "ub"})
    for seq in (1, 2, 3):
        r.add(msg(seq), everyone)
    found, through = r.after("c1", 1, 3, "ub")
    assert [x.message.seq for x in found] == [2, 3] and through == 3
    assert r.after("c1", 1, 4, "ub") is None  # a notice for seq 4: not here yet, read the store
    assert r.after("c2", 0, 1, "ub") is None
    r.add(msg(5), everyone)  # a gap (seq 4 committed elsewhere): the run starts afresh
    assert r.after("c1", 3, 5, "ub") is None
    assert [x.message.seq for x in r.after("c1", 4, 5, "ub")[0]] == [5]
    for seq in (6, 7, 8, 9):
        r.add(msg(seq), everyone)
    assert r.after("c1", 4, 9, "ub") is None  # 5 fell out of the window of 4
    assert [x.message.seq for x in r.after("c1", 5, 9, "ub")[0]] == [6, 7, 8, 9]


def test_audience_filters_and_frames_differ_only_for_the_sender():
    r = RecentMessages()
    r.add(msg(1, stranger=True), frozenset({"ua", "ub"}))
    r.add(msg(2), frozenset({"ua"}))  # after ub was removed, or withheld from ub
    found, through = r.after("c1", 0, 2, "ub")
    assert [x.message.seq for x in found] == [1] and through == 2
    first = found[0]
    assert b'"stranger":true' in first.frame_for("ub")
    assert b"stranger" not in first.frame_for("ua")
    assert first.frame_for("ub") is first.frame_for("ux")  # encoded once for all other viewers
