"""A seeded frame fuzzer: valid requests mutated byte-wise and structurally, plus raw garbage.

Frames that keep the length prefix honest go down one authenticated connection, each followed by
a ping whose answer proves the server is still in step; frames that break the framing each get a
fresh connection that is half-closed afterwards, so the server sees EOF rather than a stall.
"""

import random
import socket
import struct

from moscale.serving.protocol import encode_frame, read_frame
from serving_process import raw_connect

OPS = ["ping", "info", "status", "cancel", "generate", "edit", "extend", "hello", "teleport", ""]  # no shutdown
VALUES = [None, True, -1, 0, 1, 40, 2 ** 63, -2 ** 63, 1e308, -0.0, "", "x", "job-1", [], [1, 2], {}, {"a": 1},
          "a person walks", [[0.0] * 3] * 2]


def random_value(rng: random.Random, depth: int = 0):
    if depth < 3 and rng.random() < 0.2:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 3 and rng.random() < 0.1:
        return {rng.choice(["op", "id", "prompt", "frames", "job"]): random_value(rng, depth + 1)}
    return rng.choice(VALUES)


def valid_frames(rng: random.Random) -> list[bytes]:
    context = [[[rng.uniform(-1, 1) for _ in range(3)] for _ in range(22)] for _ in range(40)]
    return [
        encode_frame({"op": "ping", "id": 1}),
        encode_frame({"op": "status", "id": 2, "job": "job-1"}),
        encode_frame({"op": "generate", "id": 3, "prompt": "a person walks", "frames": 40, "schedule": [1, 1, 1, 1]}),
        encode_frame({"op": "edit", "id": 4, "prompt": "jump", "start": 8, "end": 16, "schedule": [1, 1, 1, 1]},
                     {"context.positions": context}),
        encode_frame({"op": "extend", "id": 5, "prompt": "run", "frames": 8, "schedule": [1, 1, 1, 1]},
                     {"context.positions": context}),
    ]


def in_step_frame(rng: random.Random, templates: list[bytes]) -> bytes:
    """A frame whose prefix matches its body: mutated bytes, truncation, random JSON or random bytes."""
    kind = rng.randrange(4)
    if kind == 0:
        body = bytearray(rng.choice(templates)[4:])
        for _ in range(rng.randint(1, 8)):
            body[rng.randrange(len(body))] = rng.randrange(256)
    elif kind == 1:
        body = rng.choice(templates)[4:]
        body = body[:rng.randrange(len(body))]
    elif kind == 2:
        header = {key: random_value(rng) for key in rng.sample(["id", "prompt", "frames", "seconds", "seed", "job",
                                                                "start", "end", "variations", "schedule",
                                                                "attachments", "top_k", "prompts"], rng.randint(0, 5))}
        header["op"] = rng.choice(OPS)
        return encode_frame(header) if rng.random() < 0.5 else _with_body(str(header).encode())
    else:
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    return _with_body(bytes(body))


def _with_body(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def out_of_step_bytes(rng: random.Random, templates: list[bytes]) -> bytes:
    """Bytes that break the framing: a wrong length prefix, or garbage from the first byte."""
    frame = bytearray(rng.choice(templates))
    if rng.random() < 0.5:
        frame[:4] = struct.pack(">I", rng.choice([0, 1, 3, len(frame) + 5, 2 ** 31, 2 ** 32 - 1,
                                                  rng.randrange(2 ** 32)]))
        return bytes(frame)
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))


def _until_pong(sock, marker: str) -> None:
    while True:
        header, _ = read_frame(sock, frame_timeout=10.0, idle=lambda: True)
        if header.get("id") == marker:
            assert header.get("pong") is True, header
            return


def run_fuzzer(server, frames: int = 1000, seed: int = 0) -> int:
    """Send `frames` fuzzed frames; return how many were sent. Raises if the server misbehaves."""
    rng = random.Random(seed)
    templates = valid_frames(rng)
    sent = 0
    main = raw_connect(server)
    try:
        while sent < frames:
            if rng.random() < 0.7:
                main.sendall(in_step_frame(rng, templates))
                marker = f"sync-{sent}"
                main.sendall(encode_frame({"op": "ping", "id": marker}))
                _until_pong(main, marker)
            else:
                with raw_connect(server, hello=rng.random() < 0.5) as sock:
                    try:
                        sock.sendall(out_of_step_bytes(rng, templates))
                        sock.shutdown(socket.SHUT_WR)
                        while sock.recv(65536):  # the server answers (or not) and closes
                            pass
                    except (ConnectionResetError, BrokenPipeError, OSError) as exc:
                        assert not isinstance(exc, TimeoutError), "the server neither answered nor closed"
            sent += 1
    finally:
        main.close()
    return sent
