"""A real `moscale serve` process: handshake, operations, jobs, batching, hostile input."""

import socket
import struct
import threading
import time

import numpy as np
import pytest
from moscale.serving.client import BackendError, BackendUnavailable, Client, JobCancelled
from moscale.serving.protocol import PROTOCOL_VERSION, encode_frame
from serving_process import raw_connect, reply, settled, wait_for

FAST = {"schedule": [1, 1, 1, 1]}
LONG_FRAMES = 12_000  # ten minutes: many continuation passes, so there is time to cancel mid-job
CONCURRENT_CLIENTS = 20


def assert_closed(sock, timeout: float = 5.0):
    sock.settimeout(timeout)
    try:
        assert sock.recv(1) == b""
    except ConnectionResetError:
        pass


@pytest.fixture
def client(server):
    with Client.from_connection_file(server.connection_file, timeout=60) as connected:
        yield connected


# ----------------------------------------------------------------------------- handshake
def test_handshake_reports_version_model_and_capabilities(client):
    welcome = client.welcome
    assert welcome["protocol_version"] == PROTOCOL_VERSION
    assert welcome["model"]["name"] == "moscale-default"
    operations = {"ping", "info", "generate", "edit", "extend", "cancel", "status", "shutdown", "load_checkpoint"}
    assert operations <= set(welcome["capabilities"])
    assert client.ping() < 1.0
    info = client.info()
    assert info["skeleton"]["parents"][:3] == [-1, 0, 0] and info["limits"]["fps"] == 20.0


@pytest.mark.parametrize("token", ["wrong-token", "", None])
def test_wrong_or_missing_token_is_refused_and_closed(server, token):
    sock = socket.create_connection(server.address, timeout=5)
    hello = {"op": "hello", "id": 1, "protocol_version": PROTOCOL_VERSION}
    if token is not None:
        hello["token"] = token
    sock.sendall(encode_frame(hello))
    header = reply(sock)
    assert header["type"] == "error" and header["code"] == "unauthenticated" and header["id"] == 1
    assert_closed(sock)
    with pytest.raises(BackendUnavailable) as error:
        Client(*server.address, token="nope")
    assert error.value.code == "unauthenticated"


def test_requests_before_hello_and_wrong_versions_are_refused(server):
    sock = raw_connect(server, hello=False)
    sock.sendall(encode_frame({"op": "ping", "id": 1, "token": server.info["token"]}))
    assert reply(sock)["code"] == "unauthenticated"
    assert_closed(sock)
    sock = raw_connect(server, hello=False)
    sock.sendall(encode_frame({"op": "hello", "protocol_version": 99, "token": server.info["token"]}))
    assert reply(sock)["code"] == "unsupported_version"
    assert_closed(sock)


def test_unreachable_backend_message_says_what_to_do():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port} \\(connection refused\\).*moscale serve"):
        Client("127.0.0.1", port, "token")


# ----------------------------------------------------------------------------- jobs
def test_generate_streams_progress_and_returns_motions(client):
    events = []
    motions = client.generate("a person walks forward", seconds=3, seed=4, variations=2, progress=events.append)
    assert [m.seed for m in motions] == [4, 5] and all(m.frames == 60 for m in motions)
    assert events and all(0.0 <= e["fraction"] <= 1.0 for e in events) and "scale" in events[0]["stage"]
    arrays = motions[0].to_numpy()
    assert arrays["rotations"].shape == (60, 22, 4) and arrays["foot_contacts"].shape == (60, 4)
    np.testing.assert_allclose(np.linalg.norm(arrays["rotations"], axis=-1), 1.0, atol=1e-4)
    again = client.generate("a person walks forward", seconds=3, seed=4)
    np.testing.assert_allclose(again[0].to_numpy()["positions"], arrays["positions"], atol=1e-5)  # batch 2 vs 1


def test_edit_keeps_frames_outside_the_range_and_extend_adds_frames(client):
    context = client.generate("a person walks", frames=80, seed=1, **FAST)[0].to_numpy()["positions"]
    edited = client.edit(context, 24, 48, "a person jumps", seed=2, **FAST).to_numpy()["positions"]
    assert edited.shape == context.shape
    np.testing.assert_allclose(edited[:24], context[:24], atol=1e-6)
    np.testing.assert_allclose(edited[48:], context[48:], atol=1e-6)
    assert not np.allclose(edited[24:48], context[24:48])
    extended = client.extend(context, "a person runs", frames=40, **FAST)
    assert extended.frames == 120
    with pytest.raises(BackendError) as error:
        client.edit(context[:10], 2, 4, "too short")
    assert error.value.code == "invalid_request"


def test_segments_give_one_motion_of_prompts_in_a_row(client):
    motion = client.submit("generate", segments=[{"prompt": "a person walks", "seconds": 2.5},
                                                 {"prompt": "a person jumps", "frames": 45}],
                           seed=3, **FAST).result(timeout=120)[0]
    assert motion.frames == 95 and motion.prompt == "a person walks | a person jumps"


@pytest.mark.parametrize("fields, fragment", [
    ({}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": 5}, "prompt"),
    ({"prompt": "x", "frames": 3}, "too short"),
    ({"prompt": "x", "frames": -1e30}, "too short"),
    ({"prompt": "x", "frames": 1e30}, "too long"),
    ({"prompt": "x", "frames": "80"}, "frames"),
    ({"prompt": "x", "seed": 1.5}, "seed"),
    ({"prompt": "x", "variations": 1000}, "variations"),
    ({"prompt": "x", "temperature": 0}, "temperature"),
    ({"prompt": "x", "schedule": [1, 2]}, "schedule"),
    ({"prompts": ["x"] * 40}, "prompts"),
    ({"segments": []}, "segments"),
    ({"segments": [{"prompt": "x", "seconds": 3}], "prompt": "y"}, "replaces"),
    ({"segments": [{"prompt": "x", "seconds": 3}, {"prompt": "y", "seconds": 0.5}]}, "segment 2 ('y')"),
    ({"segments": [{"prompt": "x", "seconds": "3"}]}, "seconds"),
])
def test_invalid_generate_requests_get_typed_errors(client, fields, fragment):
    with pytest.raises(BackendError) as error:
        client.submit("generate", **fields).result(timeout=10)
    assert error.value.code == "invalid_request" and fragment in error.value.message
    assert client.ping() < 1.0


def test_unknown_operations_and_jobs(client):
    for op, code in (("teleport", "unknown_operation"), ("cancel", "job_not_found"), ("status", None)):
        if code is None:
            assert client.request(op)["stats"]["connections"] >= 1
            continue
        with pytest.raises(BackendError) as error:
            client.request(op, job="job-999999")
        assert error.value.code == code


def test_cancel_mid_job(client):
    job = client.submit("generate", prompt="a long walk", frames=LONG_FRAMES, **FAST)
    first = next(job.events(timeout=30))
    assert first["fraction"] >= 0
    started = time.monotonic()
    assert job.cancel() in ("running", "cancelled")
    with pytest.raises(JobCancelled):
        job.result(timeout=30)
    assert time.monotonic() - started < 10
    assert client.status(job.id)["status"] == "cancelled"


def test_a_job_cancelled_inside_a_merged_batch_leaves_it_and_the_other_finishes(client):
    slow = {"schedule": [100, 100, 100, 100]}  # 400 transformer passes: the cancel lands mid-batch
    blocker = client.submit("generate", prompt="a long walk", frames=LONG_FRAMES, **FAST)
    next(blocker.events(timeout=30))
    kept = client.submit("generate", prompt="a person waves", frames=40, seed=7, **slow)
    dropped = client.submit("generate", prompt="a person jumps", frames=40, seed=8, **slow)
    assert client.status()["stats"]["queued"] == 2  # answered after both submits: they wait behind the blocker
    blocker.cancel()  # the worker then takes both queued jobs as one batch
    with pytest.raises(JobCancelled):
        blocker.result(timeout=30)
    next(dropped.events(timeout=30))
    assert dropped.cancel() == "running"
    with pytest.raises(JobCancelled):
        dropped.result(timeout=30)
    kept.poll()
    assert client.status(kept.id)["status"] == "running"  # the cancelled job did not wait for the batch to end
    assert client.status(dropped.id)["status"] == "cancelled"
    motion = kept.result(timeout=120)[0]
    assert kept.info["batch_jobs"] == 2 and motion.prompt == "a person waves" and motion.frames == 40
    alone = client.generate("a person waves", frames=40, seed=7, timeout=120, **slow)[0]
    np.testing.assert_allclose(motion.to_numpy()["positions"], alone.to_numpy()["positions"], atol=1e-5)


def test_disconnecting_client_cancels_its_job(server, client):
    other = Client.from_connection_file(server.connection_file)
    job = other.submit("generate", prompt="a long walk", frames=LONG_FRAMES, **FAST)
    next(job.events(timeout=30))
    other.close()
    wait_for(lambda: client.status(job.id)["status"] == "cancelled", timeout=15)


def test_concurrent_clients_get_their_own_results_and_share_batches(server, client):
    before = client.status()["stats"]["batched_jobs"]
    barrier, results, errors = threading.Barrier(CONCURRENT_CLIENTS), [None] * CONCURRENT_CLIENTS, []

    def run(index):
        try:
            with Client.from_connection_file(server.connection_file, timeout=60) as own:
                barrier.wait(timeout=30)
                results[index] = own.generate(f"person number {index} waves", seconds=2 + index % 2, seed=100 + index,
                                              **FAST)
        except Exception as exc:  # reported below, with the index
            errors.append((index, exc))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(CONCURRENT_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    for index, motions in enumerate(results):
        assert motions[0].prompt == f"person number {index} waves" and motions[0].seed == 100 + index
        assert motions[0].frames == (2 + index % 2) * 20
    assert client.status()["stats"]["batched_jobs"] > before


# ----------------------------------------------------------------------------- hostile bytes
def test_malformed_frames_get_errors_and_the_connection_survives(server):
    sock = raw_connect(server)
    header = b"{not json"
    sock.sendall(struct.pack(">II", len(header) + 4, len(header)) + header)
    assert reply(sock)["code"] == "bad_frame"
    for request, code in (({"op": 5, "id": 1}, "invalid_request"), ({"id": [1], "op": "ping"}, "invalid_request"),
                          ({"op": "generate", "id": 2, "prompt": ["x"]}, "invalid_request"),
                          ({"op": "edit", "id": 3, "prompt": "x", "start": 0, "end": 4}, "invalid_request")):
        sock.sendall(encode_frame(request))
        assert reply(sock)["code"] == code
    sock.sendall(encode_frame({"op": "ping", "id": 9}))
    assert reply(sock) == {"type": "response", "id": 9, "pong": True}


def test_oversized_frame_is_refused_without_reading_it(server):
    sock = raw_connect(server)
    sock.sendall(struct.pack(">I", 2 ** 32 - 1))
    assert reply(sock)["code"] == "frame_too_large"
    assert_closed(sock)


def test_stalled_frames_time_out(server):
    sock = raw_connect(server)
    sock.sendall(struct.pack(">I", 1000) + b"\0\0\0\2{}")
    started = time.monotonic()
    assert reply(sock)["code"] == "timeout"
    assert_closed(sock)
    assert time.monotonic() - started < 5
    silent = raw_connect(server, hello=False)  # never says hello
    assert reply(silent)["code"] == "timeout"
    assert_closed(silent)


def test_abrupt_disconnects_leave_the_server_healthy(server, client):
    for cut in (2, 7, 30):
        sock = raw_connect(server)
        sock.sendall(encode_frame({"op": "generate", "id": 1, "prompt": "x", "seconds": 3})[:cut])
        sock.close()
    sock = raw_connect(server)
    sock.sendall(encode_frame({"op": "generate", "id": 1, "prompt": "a walk", "frames": LONG_FRAMES, **FAST}))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
    sock.close()
    wait_for(lambda: client.status()["stats"]["open_jobs"] == 0, timeout=15)
    assert client.generate("still alive", seconds=2, **FAST)[0].frames == 40


def test_fuzzed_frames_never_crash_the_server(server, client):
    from fuzz_frames import run_fuzzer

    baseline_threads = client.status()["stats"]["threads"]
    sent = run_fuzzer(server, frames=1000, seed=1234)
    assert sent >= 1000
    assert server.process.poll() is None
    assert client.generate("a person walks after the storm", seconds=2, **FAST)[0].frames == 40
    assert settled(client)["threads"] <= baseline_threads + 1


def test_load_checkpoint(client, tmp_path):
    from moscale.checkpoint import save_checkpoint
    from tiny_humanml3d import tiny_random_model

    directory = tmp_path / "tiny"
    save_checkpoint(tiny_random_model(np.zeros(263), np.ones(263), name="tiny-loaded"), directory)
    with pytest.raises(BackendError) as error:
        client.load_checkpoint(tmp_path / "missing")
    assert error.value.code == "invalid_request"
    assert client.load_checkpoint(directory)["name"] == "tiny-loaded"
    assert client.info()["model"]["name"] == "tiny-loaded"
    assert client.generate("a walk", seconds=2, **FAST)[0].frames == 40

