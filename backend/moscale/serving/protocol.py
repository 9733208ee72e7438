"""The MoScale wire protocol: frames, typed errors and motion encoding (specified in docs/protocol.md).

Standard library only: the Blender add-on imports this very file, so it must not need numpy, torch
or the rest of moscale. Arrays travel as raw little-endian bytes after the JSON header of a frame,
because JSON number lists of a 10 s motion cost tens of milliseconds to encode and parse.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import time
from array import array
from dataclasses import dataclass, field

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_ATTACHMENTS = 256
ALIGNMENT = 8  # every attachment starts at a multiple of 8 bytes inside the frame body

_PREFIX = struct.Struct(">I")  # body length
_HEADER_LENGTH = struct.Struct(">I")  # first 4 bytes of the body: JSON header length

# Wire dtype -> (memoryview/array format, item size, buffer formats accepted when encoding).
DTYPES = {
    "float32": ("f", 4, {"f"}),
    "int32": ("i", 4, {"i", "l"}),
    "uint8": ("B", 1, {"B", "?", "b", "c"}),
}

# Error codes: the default message says what the user can do about it.
ERRORS = {
    "bad_frame": "The message could not be decoded. Client and server must both use moscale.serving.protocol.",
    "frame_too_large": "The message is larger than the server accepts; send shorter motions or fewer at once.",
    "unsupported_version": "Client and server speak different protocol versions; update the add-on or the backend.",
    "unauthenticated": "Wrong or missing token. Reconnect with the token from the server's connection file.",
    "unknown_operation": "The server does not know this operation; check the `capabilities` of the handshake.",
    "invalid_request": "The request has a missing or wrong field; the message names it.",
    "job_not_found": "No such job on this server (it may have finished long ago or belong to another server run).",
    "cancelled": "The job was cancelled.",
    "timeout": "The other side stopped sending in the middle of a message.",
    "busy": "The server is at its limit of queued jobs or connections; try again shortly.",
    "shutting_down": "The server is shutting down; start it again from the MoScale panel or run `moscale serve`.",
    "internal": "The backend hit an unexpected error; its log has the details.",
}


class ProtocolError(Exception):
    """A typed protocol error; `fatal` ones leave the byte stream out of sync, so the connection closes."""

    def __init__(self, code: str, message: str | None = None, fatal: bool = False):
        if code not in ERRORS:
            code = "internal"
        self.code = code
        self.message = message or ERRORS[code]
        self.fatal = fatal
        super().__init__(f"{code}: {self.message}")


class ConnectionClosed(Exception):
    """The peer closed the connection (cleanly between frames, or in the middle of one)."""


def error_header(code: str, message: str | None = None, request_id=None) -> dict:
    return {"type": "error", "id": request_id, "code": code, "message": message or ERRORS.get(code, "")}


# ----------------------------------------------------------------------------- arrays
def _pad(length: int) -> int:
    return -length % ALIGNMENT


def _buffer_of(value, dtype: str) -> tuple[memoryview, list[int]]:
    """A little-endian byte view and shape of `value` (anything with the buffer protocol, e.g. a
    numpy array or array.array, or nested lists) as `dtype`. Buffers already in dtype are not copied."""
    fmt, size, accepted = DTYPES[dtype]
    try:
        view = memoryview(value)
    except TypeError:
        return _from_lists(value, dtype)
    shape = list(view.shape or ())
    if view.format.lstrip("@=<") in accepted and view.itemsize == size and view.c_contiguous \
            and sys.byteorder == "little":
        return view.cast("B"), shape
    flat = view.tolist() if view.ndim else [view.tolist()]
    for _ in range(len(shape) - 1):
        flat = [x for row in flat for x in row]
    return _to_bytes(array(fmt, (int(x) if dtype != "float32" else x for x in flat))), shape


def _from_lists(value, dtype: str) -> tuple[memoryview, list[int]]:
    shape, level = [], value
    while isinstance(level, (list, tuple)):
        shape.append(len(level))
        level = level[0] if level else None
    flat = value
    for _ in range(len(shape) - 1):
        if any(not isinstance(row, (list, tuple)) or len(row) != len(flat[0]) for row in flat):
            raise ValueError("nested lists must be rectangular")
        flat = [x for row in flat for x in row]
    fmt = DTYPES[dtype][0]
    return _to_bytes(array(fmt, (int(x) if dtype != "float32" else float(x) for x in flat))), shape


def _to_bytes(values: array) -> memoryview:
    if sys.byteorder != "little":
        values.byteswap()
    return memoryview(values).cast("B")


def _view(data: memoryview, dtype: str, shape: list[int]) -> memoryview:
    fmt = DTYPES[dtype][0]
    if sys.byteorder != "little":
        values = array(fmt, data.tobytes())
        values.byteswap()
        data = memoryview(values).cast("B")
    return data.cast(fmt, shape)


# ----------------------------------------------------------------------------- frames
def encode_frame(header: dict, arrays: dict | None = None) -> bytes:
    """One frame: 4-byte length, 4-byte header length, JSON header, aligned array bytes.

    `arrays` maps names to (value, dtype) pairs or to float32 values; the header gets an
    `attachments` list [{name, dtype, shape}] describing them in order.
    """
    attachments, chunks = [], []
    for name, value in (arrays or {}).items():
        value, dtype = value if isinstance(value, tuple) else (value, "float32")
        data, shape = _buffer_of(value, dtype)
        if not shape or 0 in shape:
            raise ValueError(f"array {name!r} has shape {shape}; arrays need at least one element and dimension")
        attachments.append({"name": name, "dtype": dtype, "shape": shape})
        chunks.append(data)
    header = dict(header, attachments=attachments) if attachments else header
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * _pad(_HEADER_LENGTH.size + len(text))  # JSON allows trailing spaces
    parts = [b"", _HEADER_LENGTH.pack(len(text)), text]
    for data in chunks:
        parts.append(data)
        parts.append(b"\0" * _pad(len(data)))
    body_length = sum(len(p) for p in parts)
    parts[0] = _PREFIX.pack(body_length)
    return b"".join(parts)


def decode_body(body) -> tuple[dict, dict]:
    """Header dict and {name: memoryview shaped like the array} from a frame body (without prefix).

    Raises ProtocolError("bad_frame") for anything malformed; framing stays in sync, so not fatal.
    """
    body = memoryview(body)
    if len(body) < _HEADER_LENGTH.size:
        raise ProtocolError("bad_frame", "frame body shorter than its 4-byte header length")
    (header_length,) = _HEADER_LENGTH.unpack_from(body)
    end = _HEADER_LENGTH.size + header_length
    if end > len(body):
        raise ProtocolError("bad_frame", f"header length {header_length} exceeds the frame body")
    try:
        header = json.loads(bytes(body[_HEADER_LENGTH.size:end]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("bad_frame", f"the header is not valid UTF-8 JSON ({exc.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise ProtocolError("bad_frame", "the header must be a JSON object")
    arrays = {}
    described = header.get("attachments", [])
    if not isinstance(described, list) or len(described) > MAX_ATTACHMENTS:
        raise ProtocolError("bad_frame", f"attachments must be a list of at most {MAX_ATTACHMENTS} entries")
    offset = end + _pad(end)
    for entry in described:
        name, dtype, shape = _check_attachment(entry, arrays)
        length = DTYPES[dtype][1]
        for n in shape:
            length *= n
        if offset + length > len(body):
            raise ProtocolError("bad_frame", f"attachment {name!r} runs past the end of the frame")
        arrays[name] = _view(body[offset:offset + length], dtype, shape)
        offset += length + _pad(length)
    if len(body) > offset:
        raise ProtocolError("bad_frame", f"{len(body) - offset} unexpected bytes after the last attachment")
    return header, arrays


def _check_attachment(entry, seen) -> tuple[str, str, list[int]]:
    if not isinstance(entry, dict):
        raise ProtocolError("bad_frame", "each attachment must be an object {name, dtype, shape}")
    name, dtype, shape = entry.get("name"), entry.get("dtype"), entry.get("shape")
    if not isinstance(name, str) or name in seen:
        raise ProtocolError("bad_frame", f"attachment name {name!r} is missing or repeated")
    if dtype not in DTYPES:
        raise ProtocolError("bad_frame", f"attachment {name!r} has dtype {dtype!r}; use one of {sorted(DTYPES)}")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 8 or \
            any(isinstance(n, bool) or not isinstance(n, int) or not 0 < n < 2 ** 31 for n in shape):
        raise ProtocolError("bad_frame", f"attachment {name!r} needs a shape of 1 to 8 positive ints")
    return name, dtype, shape


def frame_length(prefix: bytes, max_frame_bytes: int = MAX_FRAME_BYTES) -> int:
    """Body length from a 4-byte prefix, refused before reading the body if over the limit."""
    (length,) = _PREFIX.unpack(prefix)
    if length > max_frame_bytes:
        raise ProtocolError("frame_too_large", f"frame of {length} bytes exceeds the limit of {max_frame_bytes} "
                            f"bytes", fatal=True)
    return length


def read_frame(sock: socket.socket, max_frame_bytes: int = MAX_FRAME_BYTES, frame_timeout: float = 10.0,
               idle=None) -> tuple[dict, dict]:
    """Read one frame from a socket whose own timeout is a short polling tick.

    Between frames the wait lasts as long as `idle()` returns True (an authenticated client may sit
    between requests); without `idle` the frame must start and finish within `frame_timeout`. Once a
    frame has begun, all of it must arrive within `frame_timeout` seconds, so a peer that announces a
    length and stalls is cut off.
    """
    prefix, started = _receive(sock, _PREFIX.size, frame_timeout, idle, None if idle else time.monotonic())
    body, _ = _receive(sock, frame_length(prefix, max_frame_bytes), frame_timeout, None, started)
    return decode_body(body)


def _receive(sock, count: int, frame_timeout: float, idle, started: float | None) -> tuple[bytearray, float]:
    buffer = bytearray(count)
    view, received = memoryview(buffer), 0
    while received < count:
        try:
            n = sock.recv_into(view[received:], min(count - received, 1 << 20))
        except TimeoutError:
            n = None
        if n == 0:
            raise ConnectionClosed("connection closed by the peer" + (" mid-frame" if received else ""))
        if n:
            received += n
            started = started or time.monotonic()
        if received == count:
            break
        if started is None:
            if not idle():
                raise ConnectionClosed("stopped waiting for the next frame")
        elif time.monotonic() - started >= frame_timeout:
            raise ProtocolError("timeout", f"no complete frame within {frame_timeout:g} s", fatal=True)
    return buffer, started


# ----------------------------------------------------------------------------- motions
MOTION_ARRAYS = {  # name -> (dtype, shape with T for frames and J for joints)
    "rotations": ("float32", ("T", "J", 4)),
    "root_translation": ("float32", ("T", 3)),
    "positions": ("float32", ("T", "J", 3)),
    "foot_contacts": ("uint8", ("T", 4)),
    "rest_offsets": ("float32", ("J", 3)),
}


@dataclass
class MotionData:
    """A motion as it leaves the backend (DESIGN.md §4). Arrays are memoryviews shaped like numpy
    arrays ((T, J, 4) rotations w-x-y-z, ...); `.tolist()` gives nested lists, `to_numpy()` arrays."""

    fps: float
    joint_names: list[str]
    parents: list[int]
    rest_offsets: memoryview
    rotations: memoryview
    root_translation: memoryview
    positions: memoryview
    foot_contacts: memoryview  # l_ankle, l_foot, r_ankle, r_foot; 1 = in contact
    prompt: str = ""
    seed: int = 0
    notes: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return self.rotations.shape[0] if self.rotations.ndim else 0

    def to_numpy(self) -> dict:
        """The arrays as numpy arrays (zero-copy views); needs numpy, which Blender ships."""
        import numpy

        return {name: numpy.asarray(getattr(self, name)) for name in MOTION_ARRAYS}


def encode_motion(motion: dict, prefix: str) -> tuple[dict, dict]:
    """(JSON part, arrays named prefix + field) of a motion given as a dict of MotionData fields."""
    meta = {key: motion.get(key, default) for key, default in
            (("fps", 20.0), ("joint_names", []), ("parents", []), ("prompt", ""), ("seed", 0),
             ("notes", []), ("metadata", {}))}
    meta["frames"] = len(motion["rotations"])
    arrays = {prefix + name: (motion[name], dtype) for name, (dtype, _) in MOTION_ARRAYS.items()}
    return meta, arrays


def decode_motion(meta: dict, arrays: dict, prefix: str) -> MotionData:
    """MotionData from the JSON part and arrays of encode_motion, with shapes checked."""
    try:
        values = {name: arrays[prefix + name] for name in MOTION_ARRAYS}
        joints, frames = len(meta["joint_names"]), int(meta["frames"])
        for name, (dtype, shape) in MOTION_ARRAYS.items():
            expected = [frames if n == "T" else joints if n == "J" else n for n in shape]
            if list(values[name].shape) != expected:
                raise ValueError(f"{name} has shape {list(values[name].shape)}, expected {expected}")
        return MotionData(fps=float(meta["fps"]), joint_names=list(meta["joint_names"]),
                          parents=[int(p) for p in meta["parents"]], prompt=str(meta.get("prompt", "")),
                          seed=int(meta.get("seed", 0)), notes=list(meta.get("notes", [])),
                          metadata=dict(meta.get("metadata", {})), **values)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError("bad_frame", f"malformed motion {prefix!r}: {exc}") from None


def benchmark_motion_codec(frames: int = 200, repeats: int = 200) -> dict:
    """Milliseconds to encode and decode one result frame with a `frames`-long 22-joint motion."""
    joints = 22
    motion = {"fps": 20.0, "joint_names": [f"joint_{j}" for j in range(joints)], "parents": [-1] + list(range(21)),
              "rest_offsets": array("f", [0.1] * joints * 3), "rotations": array("f", [0.5] * frames * joints * 4),
              "root_translation": array("f", [0.0] * frames * 3), "positions": array("f", [1.0] * frames * joints * 3),
              "foot_contacts": (array("B", [1] * frames * 4)), "prompt": "a person walks", "seed": 3}
    shaped = {name: memoryview(motion[name]).cast("B").cast(DTYPES[dtype][0], [frames if n == "T" else joints if
              n == "J" else n for n in shape]) for name, (dtype, shape) in MOTION_ARRAYS.items()}
    motion.update(shaped)
    best_encode = best_decode = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        meta, arrays = encode_motion(motion, "motions.0.")
        frame = encode_frame({"type": "result", "id": 1, "motions": [meta]}, arrays)
        encoded = time.perf_counter()
        header, views = decode_body(memoryview(frame)[_PREFIX.size:])
        decode_motion(header["motions"][0], views, "motions.0.")
        decoded = time.perf_counter()
        best_encode, best_decode = min(best_encode, encoded - started), min(best_decode, decoded - encoded)
    return {"frames": frames, "bytes": len(frame), "encode_ms": best_encode * 1e3, "decode_ms": best_decode * 1e3,
            "total_ms": (best_encode + best_decode) * 1e3}
