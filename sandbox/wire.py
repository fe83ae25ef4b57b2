"""Frames between the host and the sandbox worker. Used on both sides; needs only numpy.

A frame is ``!II`` (header length, payload length), a UTF-8 JSON header, then the payload: the
raw bytes of the arrays the header lists under ``"arrays"`` (name, dtype, shape), in order.
Nothing is pickled; the reader checks every length against its limits before reading.
"""

from __future__ import annotations

import json
import struct

import numpy as np

PREFIX = struct.Struct("!II")
MAX_HEADER = 1 << 20
ALLOWED_DTYPES = frozenset({"float64", "float32", "int64", "int32", "uint8", "bool"})


class WireError(Exception):
    """A frame broke the protocol (bad length, bad JSON, bad array description)."""


def encode(header: dict, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    arrays = _contiguous(arrays)
    return frame(_body(header, arrays), arrays)


def _contiguous(arrays: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    return {name: np.ascontiguousarray(array) for name, array in (arrays or {}).items()}


def _body(header: dict, arrays: dict[str, np.ndarray]) -> bytes:
    specs = [{"name": name, "dtype": a.dtype.name, "shape": list(a.shape)} for name, a in arrays.items()]
    return json.dumps({**header, "arrays": specs}, separators=(",", ":")).encode()


def frame(body: bytes, arrays: dict[str, np.ndarray]) -> bytes:
    """The frame of a header already made into JSON (``body``, listing ``arrays``) and the contiguous arrays."""
    payload = b"".join(a.tobytes() for a in arrays.values())
    return PREFIX.pack(len(body), len(payload)) + body + payload


def split_prefix(prefix: bytes, max_payload: int, max_header: int = MAX_HEADER) -> tuple[int, int]:
    header_len, payload_len = PREFIX.unpack(prefix)
    if header_len > max_header or payload_len > max_payload:
        raise WireError(f"frame too large (header {header_len} B, payload {payload_len} B)")
    return header_len, payload_len


def decode(header_bytes: bytes, payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    header, layout = parse(header_bytes)
    return header, unpack(layout, payload)


def parse(header_bytes: bytes) -> tuple[dict, list[tuple]]:
    """A frame's header and the layout of its arrays: (name, dtype, shape, bytes) each, checked for sanity."""
    try:
        header = json.loads(header_bytes)
    except (ValueError, RecursionError) as err:  # bad JSON or UTF-8, an over-long integer, absurd nesting
        raise WireError(f"frame header is not usable JSON ({type(err).__name__})") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays", []), list):
        raise WireError("frame header is not a JSON object with an 'arrays' list")
    layout = []
    for spec in header.pop("arrays", []):
        try:
            name, dtype = str(spec["name"])[:100], str(spec["dtype"])[:20]
            shape = tuple(int(d) for d in spec["shape"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise WireError("bad array description") from None
        if dtype not in ALLOWED_DTYPES or len(shape) > 32 or any(d < 0 for d in shape):
            raise WireError(f"array {name!r} has a disallowed dtype or shape")
        size = np.dtype(dtype).itemsize
        for d in shape:  # Python integers: a product that would overflow int64 cannot pass the size check
            size *= d
        layout.append((name, dtype, shape, size))
    return header, layout


def unpack(layout: list[tuple], payload: bytes) -> dict[str, np.ndarray]:
    """The arrays of a payload laid out as ``layout`` says; every length is checked against the payload's."""
    arrays, offset = {}, 0
    for name, dtype, shape, size in layout:
        if offset + size > len(payload) or any(d > len(payload) for d in shape):
            raise WireError(f"array {name!r} runs past the end of the payload")
        arrays[name] = np.frombuffer(payload, dtype=dtype, count=size // np.dtype(dtype).itemsize,
                                     offset=offset).reshape(shape)
        offset += size
    if offset != len(payload):
        raise WireError(f"payload has {len(payload) - offset} stray bytes")
    return arrays


class Memo:
    """encode and decode for frames whose headers repeat (every act request and reply of a lock-step batch): each
    header is made into JSON, or parsed and checked, once; payloads are still checked against it every time.
    Holds at most ``size`` headers each way (the oldest go first) and none over ``largest`` bytes."""

    def __init__(self, size: int = 16, largest: int = 1024):
        self.size, self.largest = size, largest
        self.bodies: dict[tuple, bytes] = {}
        self.layouts: dict[bytes, tuple[dict, list[tuple]]] = {}

    def encode(self, key: tuple, header: dict, arrays: dict[str, np.ndarray] | None = None) -> bytes:
        """``key``: hashable and the same exactly when ``header`` is (e.g. the op and the episodes)."""
        arrays = _contiguous(arrays)
        full = (key, *((name, a.dtype, a.shape) for name, a in arrays.items()))
        body = self.bodies.get(full)
        if body is None:
            body = _body(header, arrays)
            self._keep(self.bodies, full, body, len(body))
        return frame(body, arrays)

    def decode(self, header_bytes: bytes, payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
        known = self.layouts.get(header_bytes)
        if known is None:
            known = parse(header_bytes)
            self._keep(self.layouts, bytes(header_bytes), known, len(header_bytes))
        header, layout = known
        return dict(header), unpack(layout, payload)

    def _keep(self, table: dict, key, value, length: int) -> None:
        if length > self.largest:
            return
        if len(table) >= self.size:
            del table[next(iter(table))]
        table[key] = value
