"""Dynamic batching under 32 concurrent clients, with a fixed delay and in
the default auto mode: each client keeps one keep-alive connection and
sends requests of 1 to 3 Fashion-MNIST test images; every answer must
equal, bit for bit, the binary's `predict` of those images (computed
alone), and the server's metrics must show that requests were merged
(fewer executions than requests, batches above 1). Then a lone client in
the auto mode: its requests must not wait for others.

usage: check_serve_batching.py BINARY WEIGHTS PREDICTIONS.npy (the first 256 test images)"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from serve_util import Server, check, infer_body, run_threads, test_images  # noqa: E402

binary, weights, predictions_path = sys.argv[1:4]
expected = np.load(predictions_path)
images = test_images(len(expected))


def metrics(server):
    """The model's metric values from /metrics, by name."""
    text = server.request("GET", "/metrics")[2].decode()
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    labels = 'model="FashionCnn",version="1"'
    return lambda name, extra="": values["%s{%s%s}" % (name, labels, extra)]


def concurrent_clients(server, mode, merges):
    """32 clients at once: every answer as `predict` alone; with `merges`,
    fewer calls than requests."""
    mismatches, errors, rows_sent = [], [], [0] * CLIENTS

    def client(index):
        conn = server.connection()
        for r in range(REQUESTS):
            rows = 1 + (index + r) % 3
            first = (index * 7 + r * 13) % (len(images) - rows)
            status, _, data = server.request("POST", "/v2/models/FashionCnn/infer",
                                             infer_body(images[first:first + rows], id="%d-%d" % (index, r)),
                                             conn=conn)
            if status != 200:
                errors.append((status, data[:200]))
                continue
            answer = json.loads(data)
            got = np.array(answer["outputs"][0]["data"], dtype=np.float32).reshape(rows, 10)
            if answer.get("id") != "%d-%d" % (index, r) or not np.array_equal(got, expected[first:first + rows]):
                mismatches.append((index, r, first, rows))
            rows_sent[index] += rows
        conn.close()

    run_threads(client, CLIENTS)
    check(not errors, "errors: %r" % errors[:3])
    check(not mismatches, "%d answers differ from `predict` alone, e.g. %r" % (len(mismatches), mismatches[:3]))
    requests = CLIENTS * REQUESTS
    print("%s: %d clients x %d requests: every answer equals `predict` alone, bit for bit"
          % (mode, CLIENTS, REQUESTS))
    value = metrics(server)
    executions = value("nv_inference_exec_count")
    singles = value("kiln_inference_batch_size_bucket", ',le="1"')
    check(value("nv_inference_count") == sum(rows_sent),
          "inference count %g, wanted %d" % (value("nv_inference_count"), sum(rows_sent)))
    check(value("nv_inference_request_success") == requests, "success count")
    if merges:
        check(executions < requests / 2, "%g executions for %d requests: little batching" % (executions, requests))
    print("%s: batched: %d requests (%d examples) in %d executions, %d of them single examples"
          % (mode, requests, sum(rows_sent), executions, singles))


def lone_client(server):
    """One client, one request after the other: in the auto mode it is the
    only connection expected to send, so its requests run at once instead of
    waiting for others (the cap is 500 us a request)."""
    conn = server.connection()
    for r in range(LONE_REQUESTS):
        status, _, data = server.request("POST", "/v2/models/FashionCnn/infer", infer_body(images[r:r + 1]), conn=conn)
        check(status == 200, "lone client: status %d: %r" % (status, data[:200]))
        got = np.array(json.loads(data)["outputs"][0]["data"], dtype=np.float32)
        check(np.array_equal(got, expected[r]), "lone client: answer %d differs from `predict` alone" % r)
    conn.close()
    value = metrics(server)
    queued_us = value("nv_inference_queue_duration_us") / LONE_REQUESTS
    check(value("nv_inference_exec_count") == LONE_REQUESTS, "lone client: requests merged")
    # Waiting would put 500 us into every request's queue time; running at
    # once puts in the rest of the loop's round (microseconds). The bound
    # leaves room for a slow, shared machine.
    check(queued_us < 250, "lone client: %.0f us queued per request: it waited for other senders" % queued_us)
    print("auto: a lone client's %d requests ran one by one, without waiting" % LONE_REQUESTS)


CLIENTS, REQUESTS, LONE_REQUESTS = 32, 12, 100
# A fixed delay merges these clients' requests. The auto mode waits only for
# clients that send again within a millisecond of their answer, which
# Python's threads (one interpreter lock) do not all do: its merging rule
# is tested in test/unit/BatcherTest.cpp, its answers here.
for mode, flags in (("--max-delay-us 2000", ["--max-delay-us", "2000"]), ("auto", [])):
    server = Server(binary, "--weights", weights, "--threads", "2", "--max-batch", "64", *flags)
    try:
        concurrent_clients(server, mode, merges=bool(flags))
    finally:
        code, out = server.stop()
    check(code == 0, "exit status %d: %s" % (code, out))
# One loop (--threads 1), so that the lone client's connection is the only
# one its loop serves.
server = Server(binary, "--weights", weights, "--threads", "1")
try:
    lone_client(server)
finally:
    code, out = server.stop()
check(code == 0, "exit status %d: %s" % (code, out))
