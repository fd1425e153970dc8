"""Soak test of `MODEL serve`: clients send a mix of good and bad requests
for --seconds (JSON and binary inference, TF Serving predict, metadata,
malformed bodies, unknown names, forged shapes, wrong methods and routes,
clients that hang up mid-request, connections closed after each request),
and the server's resident memory at the end must be within 10% of where it
was once warmed up (128 connections have been served at once, every
batch size has run once, and the first fifth of the run, at least 10 s, has
passed). Every good
request must get 200 and every bad one its 4xx; never a 5xx.

usage: serve_soak.py BINARY WEIGHTS [--seconds 600] [--clients 8]"""

import argparse
import json
import os
import random
import socket
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from serve_util import Server, check, infer_body, run_threads, test_images  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("binary")
parser.add_argument("weights")
parser.add_argument("--seconds", type=float, default=600)
parser.add_argument("--clients", type=int, default=8)
args = parser.parse_args()

images = test_images(64)
INFER = "/v2/models/FashionCnn/infer"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def binary_body(x):
    header = json.dumps({"inputs": [{"name": "image", "datatype": "FP32", "shape": list(x.shape),
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "probs", "parameters": {"binary_data": True}}]}).encode()
    return header + x.tobytes(), {"Inference-Header-Content-Length": str(len(header))}


def good_request(rng):
    x = images[rng.randrange(60):][:rng.randrange(1, 5)]
    kind = rng.randrange(4)
    if kind == 0:
        return "POST", INFER, json.dumps(infer_body(x)), {"Content-Type": "application/json"}, 200
    if kind == 1:
        body, headers = binary_body(x)
        return "POST", INFER, body, headers, 200
    if kind == 2:
        return ("POST", "/v1/models/FashionCnn:predict", json.dumps({"instances": x.tolist()}),
                {"Content-Type": "application/json"}, 200)
    return "GET", rng.choice(["/v2/models/FashionCnn", "/v2/health/ready", "/metrics", "/"]), None, {}, 200


def bad_request(rng):
    one = infer_body(images[:1])
    kind = rng.randrange(7)
    if kind == 0:
        return "POST", INFER, '{"inputs": [' * rng.randrange(1, 50), {"Content-Type": "application/json"}, 400
    if kind == 1:
        one["inputs"][0]["name"] = "nope"
    elif kind == 2:
        one["inputs"][0]["shape"] = [rng.choice([2 ** 40, 10 ** 6, -3]), 28, 28, 1]
    elif kind == 3:
        one["inputs"][0]["data"][rng.randrange(784)] = "x"
    elif kind == 4:
        return "GET", INFER, None, {}, 405
    elif kind == 5:
        return "POST", "/v2/models/Other/infer", json.dumps(one), {"Content-Type": "application/json"}, 404
    else:
        body, headers = binary_body(images[:2])
        return "POST", INFER, body[:-8], headers, 400
    return "POST", INFER, json.dumps(one), {"Content-Type": "application/json"}, 400


def hang_up(port):
    """A client that sends half a request and disappears."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"inp")


CONNECTIONS = 128
server = Server(args.binary, "--weights", args.weights, "--threads", "2", "--max-delay-us", "500", "--timeout", "2",
                "--connections", CONNECTIONS)
counts = {"good": 0, "bad": 0, "hangups": 0}
problems = []
deadline = time.monotonic() + args.seconds
lock = threading.Lock()
try:
    def client(seed):
        rng = random.Random(seed)
        conn = server.connection(timeout=30)
        while time.monotonic() < deadline and len(problems) < 10:
            roll = rng.random()
            try:
                if roll < 0.02:
                    hang_up(server.port)
                    with lock:
                        counts["hangups"] += 1
                    continue
                method, path, body, headers, want = good_request(rng) if roll < 0.6 else bad_request(rng)
                if rng.random() < 0.1:
                    headers = {**headers, "Connection": "close"}
                status, _, data = server.request(method, path, body, headers, conn=conn)
                if headers.get("Connection") == "close":
                    conn.close()
                    conn = server.connection(timeout=30)
            except (ConnectionError, OSError) as error:  # the server must not drop a live client
                problems.append("%s %s: %r" % (method, path, error))
                conn = server.connection(timeout=30)
                continue
            with lock:
                counts["good" if want == 200 else "bad"] += 1
            if status != want:
                problems.append("%s %s: status %d, wanted %d: %r" % (method, path, status, want, data[:120]))
        conn.close()

    # Warm up first: 128 connections open at once each send a good and a bad
    # request, so that the event loops' connection tables, read and answer
    # buffers and malloc arenas have grown before the baseline.
    barrier = threading.Barrier(CONNECTIONS)

    def warm_thread(index):
        conn = server.connection(timeout=30)
        for method, path, body, headers, want in (good_request(random.Random(index)),
                                                  bad_request(random.Random(index))):
            server.request(method, path, body, headers, conn=conn)
        barrier.wait(timeout=30)
        conn.close()

    run_threads(warm_thread, CONNECTIONS, timeout=60)

    # And every batch size up to --max-batch once: the compiled code keeps
    # freed buffers by size class for reuse (bounded), one set per size.
    conn = server.connection(timeout=30)
    for rows in range(1, 65):
        server.request("POST", INFER, json.dumps(infer_body(np.resize(images, (rows, 28, 28, 1)))),
                       {"Content-Type": "application/json"}, conn=conn)
    conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    warm = max(10.0, args.seconds / 5)
    time.sleep(warm)
    baseline = rss_kib(server.process.pid)
    peak = baseline
    while time.monotonic() < deadline:
        time.sleep(0.5)
        peak = max(peak, rss_kib(server.process.pid))
    for t in threads:
        t.join(timeout=60)
    final = rss_kib(server.process.pid)
    check(not problems, "%d problems, e.g.:\n  %s" % (len(problems), "\n  ".join(problems[:5])))
    growth = final / baseline - 1
    print("soak: %.0f s, %d good and %d bad requests, %d hang-ups, no unexpected status"
          % (args.seconds, counts["good"], counts["bad"], counts["hangups"]))
    print("resident memory: %.1f MiB after %.0f s warm-up, %.1f MiB at the end (%+.1f%%), peak %.1f MiB"
          % (baseline / 1024, warm, final / 1024, 100 * growth, peak / 1024))
    check(growth <= 0.10, "resident memory grew %.1f%%" % (100 * growth))
    print("memory: within 10%")
finally:
    code, out = server.stop()
check(code == 0, "exit status %d: %s" % (code, out))
