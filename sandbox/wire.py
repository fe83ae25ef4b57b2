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
    arrays = arrays or {}
    specs, blobs = [], []
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        specs.append({"name": name, "dtype": array.dtype.name, "shape": list(array.shape)})
        blobs.append(array.tobytes())
    body = json.dumps({**header, "arrays": specs}, separators=(",", ":")).encode()
    payload = b"".join(blobs)
    return PREFIX.pack(len(body), len(payload)) + body + payload


def split_prefix(prefix: bytes, max_payload: int, max_header: int = MAX_HEADER) -> tuple[int, int]:
    header_len, payload_len = PREFIX.unpack(prefix)
    if header_len > max_header or payload_len > max_payload:
        raise WireError(f"frame too large (header {header_len} B, payload {payload_len} B)")
    return header_len, payload_len


def decode(header_bytes: bytes, payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    try:
        header = json.loads(header_bytes)
    except (ValueError, RecursionError) as err:  # bad JSON or UTF-8, an over-long integer, absurd nesting
        raise WireError(f"frame header is not usable JSON ({type(err).__name__})") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays", []), list):
        raise WireError("frame header is not a JSON object with an 'arrays' list")
    arrays, offset = {}, 0
    for spec in header.pop("arrays", []):
        try:
            name, dtype = str(spec["name"])[:100], str(spec["dtype"])[:20]
            shape = tuple(int(d) for d in spec["shape"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise WireError("bad array description") from None
        if dtype not in ALLOWED_DTYPES or len(shape) > 32 or any(d < 0 or d > len(payload) for d in shape):
            raise WireError(f"array {name!r} has a disallowed dtype or shape")
        size = np.dtype(dtype).itemsize
        for d in shape:  # Python integers: a product that would overflow int64 cannot pass the size check
            size *= d
        if offset + size > len(payload):
            raise WireError(f"array {name!r} runs past the end of the payload")
        arrays[name] = np.frombuffer(payload, dtype=dtype, count=size // np.dtype(dtype).itemsize,
                                     offset=offset).reshape(shape)
        offset += size
    if offset != len(payload):
        raise WireError(f"payload has {len(payload) - offset} stray bytes")
    return header, arrays
