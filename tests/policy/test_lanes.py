"""Evaluation lanes side by side (promptpo.policy.lanes): the first lane serves while it is free, more are made
when all are busy up to the limit, past it a caller waits; a lane that fails to be made gives its place back;
close closes only the lanes it made. And whether a core is spare for a worker to poll on."""

from __future__ import annotations

import threading

import pytest

from promptpo.policy.lanes import Lanes, SpareCore


class Lane:
    def __init__(self, name: str):
        self.name, self.closed = name, False

    def __call__(self) -> str:
        return self.name

    def close(self) -> None:
        self.closed = True


class Maker:
    """Makes lanes named made0, made1, ...; ``fail`` times it raises first."""

    def __init__(self, fail: int = 0):
        self.made: list[Lane] = []
        self.fail = fail

    def __call__(self) -> Lane:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("no process for a lane")
        self.made.append(Lane(f"made{len(self.made)}"))
        return self.made[-1]


def test_the_first_lane_serves_alone_while_it_is_free():
    make = Maker()
    lanes = Lanes(Lane("first"), make, limit=4)
    for _ in range(3):
        with lanes.take() as lane:
            assert lane() == "first"
    assert make.made == [] and lanes.made == []


def test_a_lane_is_made_when_all_are_busy_and_kept_for_later():
    make = Maker()
    lanes = Lanes(Lane("first"), make, limit=4)
    with lanes.take() as a, lanes.take() as b:
        assert {a(), b()} == {"first", "made0"}
    with lanes.take() as a, lanes.take() as b:
        assert {a(), b()} == {"first", "made0"}  # both free again: none made
    assert lanes.made == make.made and len(make.made) == 1


def test_past_the_limit_a_caller_waits_for_a_free_lane():
    make = Maker()
    lanes = Lanes(Lane("first"), make, limit=2)
    got: list[str] = []

    def third() -> None:
        with lanes.take() as lane:
            got.append(lane())

    with lanes.take(), lanes.take() as second:
        waiter = threading.Thread(target=third)
        waiter.start()
        waiter.join(timeout=0.3)
        assert waiter.is_alive() and got == []  # two lanes, both busy: it waits
        held = second()
    waiter.join(timeout=10)
    assert not waiter.is_alive() and got and len(make.made) == 1
    assert got[0] in {"first", held}


def test_a_lane_that_fails_to_be_made_gives_its_place_back():
    make = Maker(fail=1)
    lanes = Lanes(Lane("first"), make, limit=2)
    with lanes.take():
        with pytest.raises(RuntimeError, match="no process"):
            with lanes.take():
                pass
        assert lanes.made == []  # its place is free again, so the next caller does not wait for ever
        with lanes.take() as lane:
            assert lane() == "made0"


def test_limit_one_never_makes_a_lane():
    lanes = Lanes(Lane("first"), Maker(), limit=0)  # read as 1
    assert lanes.limit == 1
    with lanes.take() as lane:
        assert lane() == "first"


def test_close_closes_the_lanes_it_made_not_the_first():
    first, make = Lane("first"), Maker()
    lanes = Lanes(first, make, limit=3)
    with lanes.take(), lanes.take(), lanes.take():
        pass
    lanes.close()
    assert [lane.closed for lane in make.made] == [True, True] and not first.closed
    assert lanes.made == []


def test_a_garbled_load_average_turns_polling_off(tmp_path):
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("not a load average\n")
    spare = SpareCore(every_s=0.0, source=str(loadavg))
    spare.cores = 4
    assert not spare()
    loadavg.write_text("0.1 0.1 0.1 1/99 5\n")
    assert spare()
