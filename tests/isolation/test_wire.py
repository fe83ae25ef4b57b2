"""The frame format's memo: repeated headers are made or parsed once, every payload is still checked."""

from __future__ import annotations

import numpy as np
import pytest

from promptpo.isolation.session import wire


def test_memo_frames_are_the_frames_encode_makes():
    w = wire()
    memo = w.Memo()
    obs = np.arange(8.0).reshape(2, 4)
    for step in range(3):
        arrays = {"obs": obs + step}
        assert memo.encode(("act", 0, 1), {"op": "act", "envs": [0, 1]}, arrays) == w.encode(
            {"op": "act", "envs": [0, 1]}, arrays)
    # another layout under the same key is another header, not the remembered one
    wider = {"obs": np.zeros((2, 5), dtype=np.float32)}
    assert memo.encode(("act", 0, 1), {"op": "act", "envs": [0, 1]}, wider) == w.encode(
        {"op": "act", "envs": [0, 1]}, wider)
    assert len(memo.bodies) == 2


def test_memo_decodes_as_decode_and_still_checks_each_payload():
    w = wire()
    memo = w.Memo()
    frame = w.encode({"ok": True}, {"action": np.ones((2, 3))})
    header_len, _ = w.split_prefix(frame[:w.PREFIX.size], 1 << 20)
    head, payload = frame[w.PREFIX.size:w.PREFIX.size + header_len], frame[w.PREFIX.size + header_len:]
    for _ in range(2):
        header, arrays = memo.decode(head, payload)
        assert header == {"ok": True}
        np.testing.assert_array_equal(arrays["action"], np.ones((2, 3)))
        header["ok"] = False  # a caller's change does not reach the next frame with this header
    assert len(memo.layouts) == 1
    with pytest.raises(w.WireError, match="past the end"):
        memo.decode(head, payload[:-8])  # the remembered header, a short payload
    with pytest.raises(w.WireError, match="stray"):
        memo.decode(head, payload + b"\0" * 8)


def test_memo_holds_a_bounded_number_of_small_headers():
    w = wire()
    memo = w.Memo(size=4, largest=200)
    for i in range(10):
        memo.decode(w.encode({"ok": True, "n": i})[w.PREFIX.size:], b"")
    assert len(memo.layouts) == 4
    big = w.encode({"ok": True, "text": "x" * 500})
    memo.decode(big[w.PREFIX.size:], b"")
    assert all(len(key) <= 200 for key in memo.layouts)
