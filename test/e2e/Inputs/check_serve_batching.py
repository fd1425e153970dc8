"""Dynamic batching under 32 concurrent clients: each client keeps one
keep-alive connection and sends requests of 1 to 3 Fashion-MNIST test
images; every answer must equal, bit for bit, the binary's `predict` of
those images (computed alone), and the server's metrics must show that
requests were merged (fewer executions than requests, batches above 1).

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
CLIENTS, REQUESTS = 32, 12

server = Server(binary, "--weights", weights, "--threads", "2", "--max-batch", "64", "--max-delay-us", "2000")
mismatches, errors, rows_sent = [], [], [0] * CLIENTS
try:
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
    print("%d clients x %d requests: every answer equals `predict` alone, bit for bit" % (CLIENTS, REQUESTS))

    text = server.request("GET", "/metrics")[2].decode()
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    labels = 'model="FashionCnn",version="1"'
    executions = values["nv_inference_exec_count{%s}" % labels]
    singles = values['kiln_inference_batch_size_bucket{%s,le="1"}' % labels]
    examples = values["nv_inference_count{%s}" % labels]
    check(examples == sum(rows_sent), "inference count %g, wanted %d" % (examples, sum(rows_sent)))
    check(values["nv_inference_request_success{%s}" % labels] == requests, "success count")
    check(executions < requests / 2, "%g executions for %d requests: little batching" % (executions, requests))
    print("batched: %d requests (%d examples) in %d executions, %d of them single examples"
          % (requests, sum(rows_sent), executions, singles))
finally:
    code, out = server.stop()
check(code == 0, "exit status %d: %s" % (code, out))
