"""Checks a model binary's `serve` against the Open Inference Protocol
(KServe v2 REST, with Triton's binary tensor data extension) and TF
Serving's predict, with Python's http.client as the client:
every endpoint, every refused input (status and {"error": ...} body, and
the server keeps serving), NaN inputs, the queue limit (503), slow clients,
metrics, and SIGTERM answering the request in flight before exit 0.
Answers are checked against PyTorch running the same network on the same
weights, and bit for bit against the binary's own `predict` command.

usage: check_serve_protocol.py BINARY WEIGHTS PREDICTIONS.npy
(PREDICTIONS: `BINARY predict` on the first 16 test images)"""

import http.client
import json
import math
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from serve_util import Server, check, infer_body, test_images  # noqa: E402

binary, weights, predictions_path = sys.argv[1:4]
cli_predictions = np.load(predictions_path)
images = test_images(16)
INFER = "/v2/models/FashionCnn/infer"


def torch_reference(x):
    """The same network in PyTorch (bench/predict_vs_torch.py), on the
    safetensors weights read independently of Kiln's reader."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../bench"))
    import torch
    from predict_vs_torch import reference_predict, torch_params
    with open(weights, "rb") as f:
        header_size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_size))
        blob = f.read()
    arrays = {name: np.frombuffer(blob[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32)
              .reshape(v["shape"]) for name, v in header.items() if name != "__metadata__"}
    names = ["conv2d_0.kernel", "conv2d_0.bias", "conv2d_1.kernel", "conv2d_1.bias",
             "dense_0.kernel", "dense_0.bias", "dense_1.kernel", "dense_1.bias"]
    params = torch_params([arrays[n].copy() for n in names])
    with torch.no_grad():
        return reference_predict(params, torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()


def expect_error(server, status, method, path, body=None, headers=None, contains=""):
    got, hdrs, data = server.request(method, path, body, headers)
    check(got == status, "%s %s: status %d, wanted %d: %r" % (method, path, got, status, data[:200]))
    message = json.loads(data).get("error", "")
    check(message and contains in message, "%s %s: error %r lacks %r" % (method, path, message, contains))
    print("%d %s" % (status, message))
    return hdrs


def probs_of(data):
    answer = json.loads(data)
    (out,) = answer["outputs"]
    check(out["name"] == "probs" and out["datatype"] == "FP32", "output %r" % out)
    return np.array(out["data"], dtype=np.float32).reshape(out["shape"])


def binary_request(x, outputs=None, **parameters):
    """A request with `x` as binary data (Triton's extension)."""
    header = {"inputs": [{"name": "image", "datatype": "FP32", "shape": list(x.shape),
                          "parameters": {"binary_data_size": x.nbytes}}]}
    if outputs is not None:
        header["outputs"] = outputs
    if parameters:
        header["parameters"] = parameters
    text = json.dumps(header).encode()
    return text + x.astype(np.float32).tobytes(), {"Inference-Header-Content-Length": str(len(text)),
                                                   "Content-Type": "application/octet-stream"}


def split_binary(headers, data):
    length = int(headers["inference-header-content-length"])
    return json.loads(data[:length]), data[length:]


successes = failures = 0
server = Server(binary, "--weights", weights, "--threads", "2", "--timeout", "2")
try:
    print("ready line: " + server.ready_line.split(" (")[0])
    check(server.ready_seconds < 0.5, "ready after %.3f s" % server.ready_seconds)

    # ---- Health and metadata ---------------------------------------------
    for path in ["/v2/health/live", "/v2/health/ready", "/v2/models/FashionCnn/ready",
                 "/v2/models/FashionCnn/versions/1/ready"]:
        status, _, data = server.request("GET", path)
        check(status == 200 and data == b"", "%s: %d %r" % (path, status, data))
    print("health: live and ready")
    status, _, data = server.request("GET", "/v2")
    meta = json.loads(data)
    check(status == 200 and meta["name"] == "kiln" and "binary_tensor_data" in meta["extensions"], repr(meta))
    for path in ["/v2/models/FashionCnn", "/v2/models/FashionCnn/versions/1"]:
        status, headers, data = server.request("GET", path)
        meta = json.loads(data)
        check(status == 200 and headers["content-type"] == "application/json", path)
        check(meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 28, 28, 1]}], repr(meta))
        check(meta["outputs"] == [{"name": "probs", "datatype": "FP32", "shape": [-1, 10]}], repr(meta))
    print("model metadata: image FP32 [-1, 28, 28, 1] -> probs FP32 [-1, 10]")
    status, headers, data = server.request("GET", "/")
    check(status == 200 and headers["content-type"].startswith("text/html") and b"<html" in data.lower(), "page")

    # ---- Inference: against PyTorch and the predict command --------------
    reference = torch_reference(images)
    conn = server.connection()  # one keep-alive connection for many requests
    status, _, data = server.request("POST", INFER, infer_body(images[:1], id="req-7"), conn=conn)
    check(status == 200, "infer: %d %r" % (status, data))
    answer = json.loads(data)
    check(answer["id"] == "req-7" and answer["model_name"] == "FashionCnn" and answer["model_version"] == "1",
          repr(answer)[:200])
    one = probs_of(data)
    check(np.array_equal(one, cli_predictions[:1]), "infer differs from `predict`")
    successes += 1
    status, _, data = server.request("POST", INFER, infer_body(images), conn=conn)
    many = probs_of(data)
    check(status == 200 and np.array_equal(many, cli_predictions), "a 16-image request differs from `predict`")
    check(np.abs(many - reference).max() < 1e-5, "PyTorch differs by %g" % np.abs(many - reference).max())
    successes += 1
    print("infer: 16 images equal `predict` bit for bit and PyTorch within %.1e" % np.abs(many - reference).max())
    # 100 images: two batches of 64 and 36 rows (--max-batch 64); the first,
    # alone, runs on both compute threads. Row i is image i % 16.
    status, _, data = server.request("POST", INFER, infer_body(np.resize(images, (100, 28, 28, 1))), conn=conn)
    check(status == 200 and np.array_equal(probs_of(data), np.resize(cli_predictions, (100, 10))),
          "a 100-image request differs from `predict`")
    successes += 1
    print("infer: 100 images (a batch on every thread) equal `predict` bit for bit")
    # Nested data, outputs chosen, unknown parameters, a version path.
    nested = {"inputs": [{"name": "image", "datatype": "FP32", "shape": [2, 28, 28, 1],
                          "data": images[:2].tolist(), "parameters": {"whatever": 1}}],
              "outputs": [{"name": "probs"}], "parameters": {"sequence_id": 3}}
    status, _, data = server.request("POST", "/v2/models/FashionCnn/versions/1/infer", nested, conn=conn)
    check(status == 200 and np.array_equal(probs_of(data), cli_predictions[:2]), "nested data")
    successes += 1
    print("infer: nested lists, chosen outputs and unknown parameters accepted")

    # ---- Binary tensor data -----------------------------------------------
    body, headers = binary_request(images[:3], outputs=[{"name": "probs", "parameters": {"binary_data": True}}])
    status, rheaders, data = server.request("POST", INFER, body, headers)
    check(status == 200, "binary: %d %r" % (status, data[:200]))
    header, blob = split_binary(rheaders, data)
    out = header["outputs"][0]
    check(out["parameters"]["binary_data_size"] == 3 * 10 * 4 and len(blob) == 120, repr(header))
    check(np.array_equal(np.frombuffer(blob, np.float32).reshape(3, 10), cli_predictions[:3]), "binary output")
    successes += 1
    body, headers = binary_request(images[:2], binary_data_output=True)
    status, rheaders, data = server.request("POST", INFER, body, headers)
    header, blob = split_binary(rheaders, data)
    check(np.array_equal(np.frombuffer(blob, np.float32).reshape(2, 10), cli_predictions[:2]), "binary_data_output")
    successes += 1
    print("binary data: inputs and outputs equal the JSON answers")
    # NaN and infinities are computed and returned, in JSON as NaN literals.
    bad = images[:2].copy()
    bad[0, 3, 3, 0] = np.nan
    bad[1, 5, 5, 0] = np.inf
    body, headers = binary_request(bad)
    status, _, data = server.request("POST", INFER, body, headers)
    check(status == 200, "NaN input: %d %r" % (status, data[:200]))
    values = probs_of(data)
    check(np.isnan(values[0]).all(), "NaN input should give NaN probabilities: %r" % values[0])
    successes += 1
    print("NaN and Inf inputs: computed, answered 200 (%s)" % ("NaN" if math.isnan(values[1][0]) else values[1][0]))

    # ---- TF Serving -------------------------------------------------------
    status, _, data = server.request("POST", "/v1/models/FashionCnn:predict", {"instances": images[:2].tolist()})
    got = np.array(json.loads(data)["predictions"], dtype=np.float32)
    check(status == 200 and np.array_equal(got, cli_predictions[:2]), "TF instances: %d %r" % (status, data[:200]))
    status, _, data = server.request("POST", "/v1/models/FashionCnn/versions/1:predict",
                                     {"inputs": {"image": images[:2].tolist()}})
    got = np.array(json.loads(data)["outputs"], dtype=np.float32)
    check(status == 200 and np.array_equal(got, cli_predictions[:2]), "TF columnar: %d %r" % (status, data[:200]))
    successes += 2
    status, _, data = server.request("GET", "/v1/models/FashionCnn")
    check(status == 200 and json.loads(data)["model_version_status"][0]["state"] == "AVAILABLE", "TF status")
    print("TF Serving: instances and columnar inputs")

    # ---- Refused requests: 400, 404, 405, 413 ------------------------------
    good = infer_body(images[:1])

    def with_input(**changes):
        body = json.loads(json.dumps(good))
        body["inputs"][0].update(changes)
        return body

    cases = [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"id": "x"}, 'no "inputs"'),
        ({"inputs": {"name": "image"}}, '"inputs" must be a list'),
        (with_input(name="picture"), "unknown input 'picture'"),
        ({**good, "outputs": [{"name": "logits"}]}, "unknown output 'logits'"),
        (with_input(datatype="INT32"), "has datatype INT32; the model takes FP32"),
        (with_input(datatype="FP64"), "has datatype FP64"),
        (with_input(shape=[2, 28, 28, 1]), "data holds 784 values, but its shape needs 1568"),
        (with_input(shape=[1, 28, 28]), "does not fit the model's [N, 28, 28, 1]"),
        (with_input(shape=[1, 28, 27, 1]), "does not fit the model's"),
        (with_input(shape=[-1, 28, 28, 1]), "negative dimension"),
        (with_input(shape=[2 ** 62, 28, 28, 1]), "more values than the request holds"),
        (with_input(shape=[2 ** 63 + 5, 28, 28, 1]), "shape must be a list of integers"),
        (with_input(shape=[2 ** 70, 28, 28, 1]), "malformed JSON: Problem while parsing a number"),
        (with_input(shape=[0, 28, 28, 1]), "has no examples"),
        (with_input(data=["0.5"] * 784), "data holds a string, not a number"),
        (with_input(data=[None] * 784), "data holds null, not a number"),
        (with_input(data=[0.5] * 783), "data holds 783 values"),
        ({"inputs": [good["inputs"][0], good["inputs"][0]]}, "given twice"),
        ({"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 28, 28, 1]}]}, 'neither "data"'),
    ]
    for body, message in cases:
        expect_error(server, 400, "POST", INFER, body if isinstance(body, dict) else body,
                     {"Content-Type": "application/json"}, message)
        failures += 1
    body, headers = binary_request(images[:1])
    expect_error(server, 400, "POST", INFER, body[:-100], headers, "past the end of the body")
    headers["Inference-Header-Content-Length"] = "999999"
    expect_error(server, 400, "POST", INFER, body, headers, "past the end")
    expect_error(server, 400, "POST", "/v1/models/FashionCnn:predict", {"instances": [[1, 2]]}, None,
                 "instance 0: input 'image' needs 784 values per example")
    failures += 3
    expect_error(server, 404, "POST", "/v2/models/Nope/infer", good, None, "unknown model 'Nope'")
    expect_error(server, 404, "GET", "/v2/models/FashionCnn/versions/2", None, None, "no version '2'")
    expect_error(server, 404, "GET", "/v3/anything", None, None, "no route")
    hdrs = expect_error(server, 405, "GET", INFER, None, None, "use POST")
    check(hdrs.get("allow") == "POST", "405 without Allow")
    expect_error(server, 405, "DELETE", "/v2/health/ready", None, None, "use GET")
    # A body over --max-body-mb (64 MiB by default) is refused from its
    # Content-Length, before it is sent: the client sends the headers only.
    big = server.connection()
    big.putrequest("POST", INFER)
    big.putheader("Content-Type", "application/json")
    big.putheader("Content-Length", str(65 << 20))
    big.endheaders()
    answer = big.getresponse()
    message = json.loads(answer.read()).get("error", "")
    check(answer.status == 413 and "limit of 64 MiB" in message, "over the limit: %d %r" % (answer.status, message))
    check(answer.getheader("Connection") == "close", "413 without Connection: close")
    big.close()
    print("413 %s" % message)

    expect_error(server, 400, "POST", "/v1/models/FashionCnn:predict",
                 {"instances": [[0.0] * 785, [0.0] * 783]}, None, "instance 0: input 'image' needs 784 values")
    failures += 1
    # Bodies the size limit cannot see are refused before they are read.
    chunked = server.connection()
    chunked.request("POST", INFER, body=iter([json.dumps(good).encode()]), encode_chunked=True,
                    headers={"Content-Type": "application/json"})
    answer = chunked.getresponse()
    check(answer.status == 411 and b"Content-Length" in answer.read(), "chunked body: %d" % answer.status)
    chunked.close()
    import gzip
    expect_error(server, 415, "POST", INFER, gzip.compress(json.dumps(good).encode()),
                 {"Content-Type": "application/json", "Content-Encoding": "gzip"}, "uncompressed")
    print("411 chunked body")

    # Still serving, on the same keep-alive connection as before.
    status, _, data = server.request("POST", INFER, good, conn=conn)
    check(status == 200 and np.array_equal(probs_of(data), cli_predictions[:1]), "serving after errors")
    successes += 1
    conn.close()

    # ---- Pipelining: three requests in one write, answered in order ---------
    piped = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    infer_json = json.dumps(infer_body(images[:1])).encode()
    piped.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(infer_json)).encode() + b"\r\n\r\n" + infer_json +
                  b"GET /v2/models/Nope HTTP/1.1\r\nHost: x\r\n\r\n")
    stream = piped.makefile("rb")

    class OneFile:  # http.client reads every answer from the same buffered file
        def makefile(self, *args, **kwargs):
            return self

        def __getattr__(self, name):
            return getattr(stream, name)

        def close(self):  # http.client closes its file after each answer
            pass

    piped_answers = []
    for _ in range(3):
        answer = http.client.HTTPResponse(OneFile())
        answer.begin()
        piped_answers.append((answer.status, answer.read()))
    piped.close()
    check([status for status, _ in piped_answers] == [200, 200, 404], "pipelined: %r" % piped_answers)
    check(np.array_equal(probs_of(piped_answers[1][1]), cli_predictions[:1]), "pipelined inference answer")
    successes += 1
    print("pipelining: 3 requests in one write answered in order")

    # ---- A port in use: one line and exit status 1 ---------------------------
    taken = subprocess.run([binary, "serve", "--weights", weights, "--host", "127.0.0.1", "--port",
                            str(server.port)], capture_output=True, text=True, timeout=20)
    check(taken.returncode == 1 and "cannot listen on 127.0.0.1 port %d: Address already in use" % server.port
          in taken.stderr, "port in use: exit %d %r" % (taken.returncode, taken.stderr))
    print("port in use: exit 1, %s" % taken.stderr.strip().split(": ", 1)[1])

    # ---- Slow clients time out (--timeout 2) ----------------------------------
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    slow.sendall(b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    start = time.monotonic()
    try:
        while slow.recv(4096):
            pass
    except (ConnectionResetError, socket.timeout):
        pass
    waited = time.monotonic() - start
    check(waited < 8, "a stalled client held its connection %.1f s" % waited)
    print("slow client: disconnected after %.0f s" % waited)

    # ---- Metrics -------------------------------------------------------------
    status, headers, data = server.request("GET", "/metrics")
    text = data.decode()
    check(status == 200 and headers["content-type"].startswith("text/plain"), "metrics")

    def metric(line_start):
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        raise SystemExit("FAIL: no metric %s in\n%s" % (line_start, text))

    labels = '{model="FashionCnn",version="1"'
    check(metric("nv_inference_request_success" + labels) == successes,
          "success count %g, wanted %d" % (metric("nv_inference_request_success" + labels), successes))
    check(metric("nv_inference_request_failure" + labels + ',reason="OTHER"}') == failures, "failure count")
    check(metric("kiln_inference_batch_size_count" + labels) == metric("nv_inference_exec_count" + labels),
          "batch histogram")
    print("metrics: %d successes, %d failures counted" % (successes, failures))
finally:
    code, out = server.stop()
check(code == 0, "exit status %d after SIGTERM: %s" % (code, out))
print("SIGTERM: exit 0")

# ---- A full queue answers 503; SIGTERM answers the requests in flight ------
server = Server(binary, "--weights", weights, "--max-queue", "2", "--max-delay-us", "2000000",
                "--max-batch", "1000")
try:
    results = []

    def send():
        results.append(server.request("POST", INFER, infer_body(images[:1]))[0])

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # both wait in the queue for the 2 s delay
    hdrs = expect_error(server, 503, "POST", INFER, infer_body(images[:1]), None, "queue of requests is full")
    check(hdrs.get("retry-after") == "1", "503 without Retry-After")
    server.process.send_signal(__import__("signal").SIGTERM)  # while two requests wait
    for t in threads:
        t.join(timeout=20)
    check(results == [200, 200], "requests in flight at SIGTERM: %r" % results)
finally:
    code, out = server.stop()
check(code == 0, "exit status %d: %s" % (code, out))
print("queue full: 503; SIGTERM answered both queued requests, then exit 0")

# ---- Connections past --connections are answered 503 and closed -----------
server = Server(binary, "--weights", weights, "--connections", "2")
try:
    held = [server.connection() for _ in range(2)]
    for conn in held:  # both accepted and kept alive
        status, _, _ = server.request("GET", "/v2/health/live", conn=conn)
        check(status == 200, "held connection: %d" % status)
    hdrs = expect_error(server, 503, "GET", "/v2/health/live", None, None, "connections open, its limit")
    for conn in held:
        conn.close()
    time.sleep(0.2)  # the server notices the closes
    check(server.request("GET", "/v2/health/live")[0] == 200, "a connection once others have closed")
finally:
    code, out = server.stop()
check(code == 0, "exit status %d: %s" % (code, out))
print("connections past --connections: 503, then served once others close")

# ---- A request larger than --max-batch runs in chunks, with the same answer --
server = Server(binary, "--weights", weights, "--max-batch", "5")
try:
    status, _, data = server.request("POST", INFER, infer_body(images))
    check(status == 200 and np.array_equal(probs_of(data), cli_predictions), "16 images at --max-batch 5")
    text = server.request("GET", "/metrics")[2].decode()
    check('nv_inference_exec_count{model="FashionCnn",version="1"} 1' in text, "one execution")
finally:
    server.stop()
print("a 16-image request at --max-batch 5: same answer")

# ---- SIGTERM right after the ready line (the server is not listening yet) --
for _ in range(5):
    early = Server(binary, "--weights", weights)
    code, out = early.stop(timeout=5)
    check(code == 0, "SIGTERM right after the ready line: exit %d %s" % (code, out))
print("SIGTERM right after the ready line: exit 0")
