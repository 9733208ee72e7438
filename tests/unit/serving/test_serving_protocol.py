"""The wire format: round trips, limits and malformed frames (no server needed)."""

import json
import socket
import struct
import subprocess
import sys
import threading
import time
from array import array

import numpy as np
import pytest
from moscale.serving import protocol
from moscale.serving.protocol import (
    ConnectionClosed,
    ProtocolError,
    decode_body,
    decode_motion,
    encode_frame,
    encode_motion,
    frame_length,
    read_frame,
)


def body_of(frame: bytes) -> memoryview:
    assert struct.unpack(">I", frame[:4])[0] == len(frame) - 4
    return memoryview(frame)[4:]


def raw_body(header_bytes: bytes, tail: bytes = b"") -> bytes:
    return struct.pack(">I", len(header_bytes)) + header_bytes + tail


def test_header_only_round_trip():
    header = {"op": "ping", "id": 7, "text": "größe ✓"}
    decoded, arrays = decode_body(body_of(encode_frame(header)))
    assert decoded == header and arrays == {}


def test_arrays_round_trip_from_numpy_array_module_and_lists():
    positions = np.random.default_rng(0).normal(size=(50, 22, 3)).astype(np.float32)
    frame = encode_frame({"op": "x"}, {"positions": positions, "ints": (array("i", [1, -2, 3]), "int32"),
                                       "mask": (np.array([[True, False], [False, True]]), "uint8"),
                                       "lists": [[1.5, 2.5], [3.5, 4.5]], "doubles": positions.astype(np.float64)})
    header, arrays = decode_body(body_of(frame))
    assert [a["name"] for a in header["attachments"]] == ["positions", "ints", "mask", "lists", "doubles"]
    np.testing.assert_array_equal(np.asarray(arrays["positions"]), positions)
    assert arrays["ints"].tolist() == [1, -2, 3]
    assert arrays["mask"].tolist() == [[1, 0], [0, 1]]
    assert arrays["lists"].tolist() == [[1.5, 2.5], [3.5, 4.5]]
    np.testing.assert_array_equal(np.asarray(arrays["doubles"]), positions)


def test_attachments_are_aligned():
    frame = encode_frame({"a": "x" * 5}, {"b": (array("B", [1, 2, 3]), "uint8"), "c": array("f", [1.0])})
    body = body_of(frame)
    header_length = struct.unpack(">I", body[:4])[0]
    assert (4 + header_length) % protocol.ALIGNMENT == 0
    assert len(body) % protocol.ALIGNMENT == 0
    assert decode_body(body)[1]["c"].tolist() == [1.0]


def test_empty_arrays_and_nan_headers_are_refused_when_encoding():
    with pytest.raises(ValueError):
        encode_frame({}, {"empty": array("f")})
    with pytest.raises(ValueError):
        encode_frame({"x": float("nan")})


def test_frame_length_limits_are_checked_before_the_body():
    assert frame_length(struct.pack(">I", 100), max_frame_bytes=100) == 100
    with pytest.raises(ProtocolError) as error:
        frame_length(struct.pack(">I", 101), max_frame_bytes=100)
    assert error.value.code == "frame_too_large" and error.value.fatal
    assert frame_length(struct.pack(">I", 3)) == 3  # too short for a header, but still in step: bad_frame later


ATTACHMENT = {"name": "a", "dtype": "float32", "shape": [2]}


@pytest.mark.parametrize("body", [
    b"",
    b"\x00\x00",
    raw_body(b"{not json"),
    raw_body(b"\xff\xfe"),
    raw_body(b"[1, 2]"),
    raw_body(b"{}")[:-1] + b"\xff\xff\xff\xff",
    struct.pack(">I", 1000) + b"{}",
    raw_body(b"[" * 100000 + b"]" * 100000),
    raw_body(json.dumps({"attachments": "no"}).encode()),
    raw_body(json.dumps({"attachments": [ATTACHMENT]}).encode()),  # bytes missing
    raw_body(json.dumps({"attachments": [dict(ATTACHMENT, dtype="float64")]}).encode(), b"\0" * 16),
    raw_body(json.dumps({"attachments": [dict(ATTACHMENT, shape=[-2])]}).encode(), b"\0" * 8),
    raw_body(json.dumps({"attachments": [dict(ATTACHMENT, shape=[0])]}).encode()),
    raw_body(json.dumps({"attachments": [dict(ATTACHMENT, shape=[True])]}).encode(), b"\0" * 8),
    raw_body(json.dumps({"attachments": [dict(ATTACHMENT, shape=[2 ** 40])]}).encode(), b"\0" * 8),
    raw_body(json.dumps({"attachments": [dict(ATTACHMENT, shape=[2.0])]}).encode(), b"\0" * 8),
    raw_body(json.dumps({"attachments": [ATTACHMENT, ATTACHMENT]}).encode(), b"\0" * 16),
    raw_body(json.dumps({"attachments": ["a"]}).encode()),
    raw_body(b"{}      ", b"\1" * 8),  # trailing garbage
])
def test_malformed_bodies_raise_bad_frame(body):
    with pytest.raises(ProtocolError) as error:
        decode_body(body)
    assert error.value.code == "bad_frame" and not error.value.fatal
    assert error.value.message


def motion_fields(frames=30, joints=22):
    rng = np.random.default_rng(1)
    return {"fps": 20.0, "joint_names": [f"j{j}" for j in range(joints)], "parents": [-1] + list(range(joints - 1)),
            "rest_offsets": rng.normal(size=(joints, 3)).astype(np.float32),
            "rotations": rng.normal(size=(frames, joints, 4)).astype(np.float32),
            "root_translation": rng.normal(size=(frames, 3)).astype(np.float32),
            "positions": rng.normal(size=(frames, joints, 3)).astype(np.float32),
            "foot_contacts": rng.integers(0, 2, size=(frames, 4)).astype(np.uint8),
            "prompt": "a person waves", "seed": 5, "notes": ["n"], "metadata": {"model": "m"}}


def test_motion_round_trip():
    fields = motion_fields()
    meta, arrays = encode_motion(fields, "motions.0.")
    header, views = decode_body(body_of(encode_frame({"type": "result", "motions": [meta]}, arrays)))
    motion = decode_motion(header["motions"][0], views, "motions.0.")
    assert motion.frames == 30 and motion.prompt == "a person waves" and motion.seed == 5
    assert motion.joint_names == fields["joint_names"] and motion.parents == fields["parents"]
    for name, value in motion.to_numpy().items():
        np.testing.assert_array_equal(value, fields[name])
    assert len(motion.rotations.tolist()[0][0]) == 4


def test_motion_with_wrong_shapes_is_a_bad_frame():
    meta, arrays = encode_motion(motion_fields(), "m.")
    meta["frames"] = 31
    header, views = decode_body(body_of(encode_frame({"motion": meta}, arrays)))
    with pytest.raises(ProtocolError) as error:
        decode_motion(header["motion"], views, "m.")
    assert error.value.code == "bad_frame" and "rotations" in error.value.message
    with pytest.raises(ProtocolError):
        decode_motion(header["motion"], {}, "m.")


def test_codec_speed_is_measured():
    result = protocol.benchmark_motion_codec(frames=200, repeats=50)
    print(f"\n200-frame motion: {result['bytes']} bytes, encode {result['encode_ms']:.3f} ms, "
          f"decode {result['decode_ms']:.3f} ms")
    assert result["total_ms"] > 0


# ----------------------------------------------------------------------------- reading from sockets
@pytest.fixture
def pair():
    left, right = socket.socketpair()
    right.settimeout(0.05)
    yield left, right
    left.close()
    right.close()


def test_read_frame_reads_frames_sent_in_pieces(pair):
    left, right = pair
    frame = encode_frame({"op": "ping"}, {"a": array("f", [1.0, 2.0])})

    def dribble():
        for i in range(0, len(frame), 7):
            left.sendall(frame[i:i + 7])
            time.sleep(0.001)
    thread = threading.Thread(target=dribble)
    thread.start()
    header, arrays = read_frame(right, frame_timeout=5.0, idle=lambda: True)
    thread.join()
    assert header["op"] == "ping" and arrays["a"].tolist() == [1.0, 2.0]


def test_oversized_frame_is_refused_from_its_prefix(pair):
    left, right = pair
    left.sendall(struct.pack(">I", 2 ** 31))
    with pytest.raises(ProtocolError) as error:
        read_frame(right, max_frame_bytes=1024, frame_timeout=1.0, idle=lambda: True)
    assert error.value.code == "frame_too_large"


def test_stalled_frame_times_out(pair):
    left, right = pair
    left.sendall(struct.pack(">I", 1000) + b"\0\0\0\2{}")
    started = time.monotonic()
    with pytest.raises(ProtocolError) as error:
        read_frame(right, frame_timeout=0.3, idle=lambda: True)
    assert error.value.code == "timeout" and error.value.fatal
    assert time.monotonic() - started < 2.0


def test_idle_wait_ends_when_told_and_eof_mid_frame_is_a_closed_connection(pair):
    left, right = pair
    with pytest.raises(ConnectionClosed):
        read_frame(right, frame_timeout=0.1, idle=lambda: False)
    left.sendall(struct.pack(">I", 100) + b"\0")
    left.shutdown(socket.SHUT_WR)
    with pytest.raises(ConnectionClosed):
        read_frame(right, frame_timeout=1.0, idle=lambda: True)


def test_without_idle_the_first_frame_must_arrive_in_time(pair):
    _, right = pair
    with pytest.raises(ProtocolError) as error:
        read_frame(right, frame_timeout=0.2)
    assert error.value.code == "timeout"


def test_client_side_modules_need_only_the_standard_library():
    code = ("import sys; sys.modules['numpy'] = sys.modules['torch'] = None\n"
            "import moscale.serving.protocol, moscale.serving.client, moscale.serving.connection_file\n"
            "print(moscale.serving.protocol.benchmark_motion_codec(frames=20, repeats=1)['frames'])")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert output.returncode == 0, output.stderr
    assert output.stdout.strip() == "20"


def test_every_error_code_has_an_actionable_message():
    assert {"bad_frame", "frame_too_large", "unauthenticated", "unknown_operation", "invalid_request",
            "job_not_found", "cancelled", "internal", "timeout", "busy"} <= set(protocol.ERRORS)
    assert all(len(message) > 20 for message in protocol.ERRORS.values())
    assert ProtocolError("no_such_code").code == "internal"
