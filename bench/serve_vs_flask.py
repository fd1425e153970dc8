#!/usr/bin/python3
"""Serving FashionCnn over HTTP: the model binary's `serve` against the same
network served as a Python user would (Flask under gunicorn, PyTorch inside),
side by side in one run.

What: batch-1 requests of the Open Inference Protocol (KServe v2, REST, JSON)
on loopback, `POST /v2/models/FashionCnn/infer` with one Fashion-MNIST test
image (t10k image 0, scaled /255, its 784 floats written by json.dumps as a
numpy client's .tolist() gives them), driven by wrk (`wrk -t min(c,2) -c c
-d S --latency -s infer.lua`) at concurrency 1, 16 and 64 for 30 s each. Per
server and concurrency: requests/s, p50 and p99 latency (wrk's latency
distribution), and errors (non-2xx answers + socket errors; they must be 0).
Also, in the same run: the machine's fp32 FMA peak and the peer's SGEMM
check (bench/peer.py), and the binary's in-process predict rate at batch 256
(`BINARY bench --batch 256 --iters 50 --threads T`), against which the served
images/s at the highest concurrency are compared.

How: Kiln is `BINARY serve --weights W --host 127.0.0.1 --port P --threads T
[--max-batch B] [--max-delay-us D]`, with the environment Kiln runs in for
every benchmark (peer.kiln_env). The peer is bench/flask_peer.py under
`gunicorn -w T` (as many workers as Kiln has threads), each worker with
torch.set_num_threads(1), the peer's tuned environment (peer.torch_env: the
OPENBLAS_CORETYPE for this CPU, glibc malloc settings) and FashionCnn as a
TorchScript module, frozen, loaded with the same weights. Before the
servers run, a PyTorch child (1 thread, CPU 0) checks every TorchScript
variant (NCHW or channels_last, each frozen, with or without
optimize_for_inference) against predict_vs_torch.reference_predict on the
request, and picks the fastest at batch 1 for the workers. The peer runs
once with each gunicorn worker class (sync: a connection per request;
gthread: keep-alive) and each concurrency reports the faster: the peer at
its best. Before timing, each server's answer to the request is checked: the
protocol's fields, and the same probabilities as PyTorch's reference and as
the other server (max absolute difference < 1e-4); then each gets a short
untimed warm-up at the highest concurrency. Every server is stopped with
SIGTERM at the end, whatever happened (Kiln must exit 0).

Without --weights the run writes random Glorot-uniform weights (random
biases) to a temporary safetensors file with the model's tensor names
(conv2d_0.kernel, ..., dense_1.bias; Kiln's layouts), which both servers
load. wrk runs on the same CPUs as the servers, for both alike.

Command (from the repository root; about 5 minutes with the default 30 s
per point):
  /usr/bin/python3 bench/serve_vs_flask.py --binary build/FashionCnn [--weights W.safetensors] [--threads 2]
      [--seconds 30] [--concurrency 1,16,64] [--max-batch B] [--max-delay-us D] [--skip-peer]
"""
import argparse
import collections
import gzip
import http.client
import importlib.util
import json
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer  # noqa: E402
import predict_vs_torch  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
MODEL = "FashionCnn"
INFER_PATH = f"/v2/models/{MODEL}/infer"
READY_PATH = "/v2/health/ready"
WRK = "/usr/bin/wrk"
GUNICORN = "/usr/bin/gunicorn"
PEER_CLASSES = ("sync", "gthread")
# FashionCnn's parameters, in declaration order (shapes: predict_vs_torch.PARAM_SHAPES).
PARAM_NAMES = ["conv2d_0.kernel", "conv2d_0.bias", "conv2d_1.kernel", "conv2d_1.bias",
               "dense_0.kernel", "dense_0.bias", "dense_1.kernel", "dense_1.bias"]
VARIANTS = ("NCHW", "NCHW + optimize_for_inference", "channels_last", "channels_last + optimize_for_inference")
PROBS_TOLERANCE = 1e-4  # max absolute difference between the servers' probabilities
P99_GOAL_MS = 1.0  # Kiln's p99 at concurrency 1
BATCH_GOAL = 0.70  # Kiln's images/s at the highest concurrency / its in-process predict b256
IMAGE_VALUES = peer.IMAGE[0] * peer.IMAGE[1] * peer.IMAGE[2]


# ---------------------------------------------------------------------------
# Weights, the request, and the PyTorch module (shared with bench/flask_peer.py)


def read_safetensors(path):
    """{name: float32 numpy array} of a safetensors file (F32 tensors only)."""
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            continue  # not one of FashionCnn's parameters
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data, np.float32, (end - begin) // 4, 8 + length + begin).reshape(info["shape"])
    return tensors


def write_safetensors(path, tensors):
    """Writes (name, float32 array) pairs as safetensors (header padded to 8 bytes)."""
    import numpy as np
    header, offset = {}, 0
    for name, array in tensors:
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, array in tensors:
            f.write(np.ascontiguousarray(array, dtype="<f4").tobytes())


def random_weights(path, seed=1234):
    """FashionCnn's parameters, Glorot uniform kernels and small random biases."""
    import numpy as np
    rng = np.random.default_rng(seed)
    tensors = []
    for name, shape in zip(PARAM_NAMES, predict_vs_torch.PARAM_SHAPES):
        if len(shape) > 1:
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            limit = (6 / (receptive * (shape[-2] + shape[-1]))) ** 0.5
        else:
            limit = 0.1
        tensors.append((name, rng.uniform(-limit, limit, shape).astype(np.float32)))
    write_safetensors(path, tensors)


def load_params(path):
    """FashionCnn's parameters from a safetensors file (Kiln's names and layouts),
    in declaration order, as writable numpy arrays."""
    import numpy as np
    tensors = read_safetensors(path)
    arrays = []
    for name, shape in zip(PARAM_NAMES, predict_vs_torch.PARAM_SHAPES):
        if name not in tensors:
            sys.exit(f"{path}: no tensor '{name}' (f32{list(shape)}), a parameter of FashionCnn")
        if tuple(tensors[name].shape) != shape:
            sys.exit(f"{path}: tensor '{name}' has shape {list(tensors[name].shape)}, FashionCnn's is {list(shape)}")
        arrays.append(np.array(tensors[name]))
    return arrays


def request_image(payload):
    """(data, shape) of the `image` input of a parsed KServe v2 request body;
    ValueError saying what is wrong when it is not one FashionCnn takes."""
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ValueError("\"inputs\" must be a list of one input, 'image'")
    tensor = inputs[0]
    if tensor.get("name") != "image":
        raise ValueError(f"unknown input {tensor.get('name')!r}; the model's input is 'image'")
    if tensor.get("datatype") != "FP32":
        raise ValueError("input 'image' is FP32")
    shape = tensor.get("shape")
    if (not isinstance(shape, list) or len(shape) != 4 or list(shape[1:]) != list(peer.IMAGE)
            or not isinstance(shape[0], int) or shape[0] < 1):
        raise ValueError(f"input 'image' has shape {shape}; the model takes [N, 28, 28, 1]")
    data = tensor.get("data")
    if not isinstance(data, list) or len(data) != shape[0] * IMAGE_VALUES:
        raise ValueError(f"input 'image' needs {shape[0] * IMAGE_VALUES} values in \"data\"")
    return data, shape


def torch_module(arrays, variant):
    """FashionCnn (peer.torch_fashion_cnn + softmax) with Kiln's parameters
    `arrays`, frozen by TorchScript as `variant` (one of VARIANTS); returns it
    and the memory format its NCHW inputs take."""
    import torch
    layout = torch.channels_last if variant.startswith("channels_last") else torch.contiguous_format
    k0, b0, k1, b1, d0, c0, d1, c1 = predict_vs_torch.torch_params(arrays)
    net = peer.torch_fashion_cnn()
    convs = [layer for layer in net if isinstance(layer, torch.nn.Conv2d)]
    linears = [layer for layer in net if isinstance(layer, torch.nn.Linear)]
    # Kiln flattens NHWC activations, nn.Flatten NCHW ones: the rows of the
    # first dense kernel go from (h, w, c) order to (c, h, w).
    side = peer.IMAGE[0] - len(peer.CONV_FILTERS) * (peer.KERNEL - 1)
    d0 = d0.reshape(side, side, peer.CONV_FILTERS[-1], -1).permute(2, 0, 1, 3).reshape(d0.shape)
    with torch.no_grad():
        for layer, weight, bias in zip(convs + linears, (k0, k1, d0.t(), d1.t()), (b0, b1, c0, c1)):
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)
    model = torch.nn.Sequential(net, torch.nn.Softmax(dim=1)).eval().to(memory_format=layout)
    module = torch.jit.freeze(torch.jit.script(model))
    if variant.endswith(" + optimize_for_inference"):
        module = torch.jit.optimize_for_inference(module)
    elif variant not in VARIANTS:
        sys.exit(f"unknown PyTorch variant {variant!r}; one of: {', '.join(VARIANTS)}")
    return module, layout


def warm_up(module, layout, calls=20):
    """TorchScript's profiling executor optimizes a module over its first calls."""
    import torch
    x = torch.zeros(1, peer.IMAGE[2], peer.IMAGE[0], peer.IMAGE[1]).contiguous(memory_format=layout)
    with torch.inference_mode():
        for _ in range(calls):
            module(x)


def torch_choose(calls):
    """PyTorch child (1 thread): checks every variant of the module with the
    weights KILN_PEER_WEIGHTS against reference_predict on the request body in
    KILN_PEER_BODY; returns the fastest's images/s at batch 1 and, as JSON, its
    name and the reference probabilities."""
    import torch
    torch.set_num_threads(1)
    arrays = load_params(os.environ["KILN_PEER_WEIGHTS"])
    with open(os.environ["KILN_PEER_BODY"]) as f:
        data, shape = request_image(json.load(f))
    x = torch.tensor(data, dtype=torch.float32).reshape(shape).permute(0, 3, 1, 2)
    with torch.inference_mode():
        want = predict_vs_torch.reference_predict(predict_vs_torch.torch_params(arrays), x)
    steps = []
    for variant in VARIANTS:
        module, layout = torch_module(arrays, variant)
        x_variant = x.contiguous(memory_format=layout)
        warm_up(module, layout)
        with torch.inference_mode():
            error = (module(x_variant) - want).abs().max().item()
        if not error < PROBS_TOLERANCE / 10:
            sys.exit(f"PyTorch variant {variant}: probabilities differ from reference_predict's by {error:.2e}")

        def step(module=module, x=x_variant):
            with torch.inference_mode():
                module(x)
        steps.append((variant, step))
    rate, name = peer.fastest(steps, 1, 1, calls)
    return rate, json.dumps({"variant": name, "probs": want.reshape(-1).tolist()})


def request_body(index):
    """The request: Fashion-MNIST test image `index` (random pixels without the
    dataset) in the JSON a Python client writes; and where it comes from."""
    import numpy as np
    if os.path.exists(predict_vs_torch.IMAGES):
        with gzip.open(predict_vs_torch.IMAGES, "rb") as f:
            pixels = np.frombuffer(f.read(), np.uint8, IMAGE_VALUES, 16 + index * IMAGE_VALUES)
        image, source = pixels.astype(np.float32) / np.float32(255), f"Fashion-MNIST test image {index}"
    else:
        image, source = np.random.default_rng(index).random(IMAGE_VALUES, dtype=np.float32), "random pixels"
    body = {"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, *peer.IMAGE], "data": image.tolist()}]}
    return json.dumps(body), source


# ---------------------------------------------------------------------------
# Servers and wrk


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_request(port, method, path, body=None, timeout=10):
    """(status, body bytes) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def is_ready(port):
    try:
        return http_request(port, "GET", READY_PATH, timeout=2)[0] == 200
    except OSError:
        return False


class Server:
    """A server process (its own session), its stdout and stderr in files of `tmp`."""

    def __init__(self, name, command, env, port, tmp):
        self.name, self.command, self.port = name, command, port
        self.out_path, self.err_path = (os.path.join(tmp, f"{name}.{stream}") for stream in ("out", "err"))
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                            start_new_session=True)

    def output(self):
        text = ""
        for path in (self.out_path, self.err_path):
            with open(path, errors="replace") as f:
                text += f.read()
        return text

    def wait_until(self, ready, timeout, what):
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                sys.exit(f"{self.name} exited ({self.process.returncode}) before {what}: {shlex.join(self.command)}\n"
                         f"{self.output()}")
            if time.monotonic() > deadline:
                sys.exit(f"{self.name}: no {what} within {timeout} s: {shlex.join(self.command)}\n{self.output()}")
            time.sleep(0.05)

    def stop(self, timeout=20):
        """SIGTERM, then SIGKILL to its process group (gunicorn's workers too)
        once `timeout` s have passed; its exit status (None if killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            status = None
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if status is None or self._group_alive():
            print(f"{self.name} did not stop within {timeout} s of SIGTERM: killed", flush=True)
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(10)
        return status

    def _group_alive(self):
        try:
            os.killpg(self.process.pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True


Wrk = collections.namedtuple("Wrk", "rate p50 p99 non2xx socket requests")
TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}


def parse_wrk(out):
    """Requests/s, p50 and p99 (ms), non-2xx answers, socket errors and requests of wrk's output."""
    def number(pattern):
        match = re.search(pattern, out, re.M)
        if not match:
            sys.exit(f"unexpected wrk output (no {pattern!r}):\n{out}")
        return match

    def percentile(p):
        match = number(rf"^\s*{p}%\s+([\d.]+)(us|ms|s|m|h)\s*$")
        return float(match.group(1)) * TIME_UNITS[match.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Wrk(float(number(r"^Requests/sec:\s*([\d.]+)").group(1)), percentile(50), percentile(99),
               int(non2xx.group(1)) if non2xx else 0, sum(map(int, sockets.groups())) if sockets else 0,
               int(number(r"(\d+) requests in").group(1)))


def wrk_command(port, concurrency, seconds, script):
    return [WRK, f"-t{min(concurrency, 2)}", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", script,
            f"http://127.0.0.1:{port}{INFER_PATH}"]


def run_wrk(server, concurrency, seconds, script):
    """wrk against `server`; the run stops, with the server's output, if either fails."""
    command = wrk_command(server.port, concurrency, seconds, script)
    try:
        out = subprocess.run(command, env=peer.kiln_env(), capture_output=True, text=True, timeout=seconds + 60)
        failed = f"exit {out.returncode}" if out.returncode else None
    except subprocess.TimeoutExpired:
        out, failed = None, f"timed out after {seconds + 60} s"
    status = server.process.poll()
    if failed or status is not None:
        state = "running" if status is None else f"exited with {status}"
        sys.exit(f"wrk against {server.name} ({state}): {failed or 'ok'}: {shlex.join(command)}\n"
                 f"{out.stdout + out.stderr if out else ''}\n{server.name}'s output:\n{server.output()}")
    return parse_wrk(out.stdout)


def served_probs(server, body):
    """The probabilities `server` answers to `body`, after checking the answer's protocol fields."""
    status, data = http_request(server.port, "POST", INFER_PATH, body)
    try:
        answer = json.loads(data)
        output = answer["outputs"][0]
        ok = (status == 200 and answer["model_name"] == MODEL and len(answer["outputs"]) == 1
              and output["name"] == "probs" and output["datatype"] == "FP32" and output["shape"] == [1, 10]
              and len(output["data"]) == 10)
    except (ValueError, KeyError, IndexError, TypeError):
        ok = False
    if not ok:
        sys.exit(f"{server.name}: unexpected answer to the request ({status}): {data[:1000]!r}")
    return [float(value) for value in output["data"]]


def check_same(name, got, other_name, want):
    difference = max(abs(a - b) for a, b in zip(got, want))
    if not difference < PROBS_TOLERANCE:
        sys.exit(f"{name} and {other_name} answer different probabilities (max difference {difference:.2e}):\n"
                 f"  {name}: {got}\n  {other_name}: {want}")
    print(f"same probabilities: {name} and {other_name} (max difference {difference:.1e}; argmax "
          f"{got.index(max(got))})", flush=True)


def kiln_counts(server):
    """(examples computed, compiled calls) from Kiln's /metrics; None for the peer, which has none."""
    try:
        status, body = http_request(server.port, "GET", "/metrics")
    except OSError:
        return None
    if status != 200:
        return None
    counts = {}
    for line in body.decode().splitlines():
        for name in ("nv_inference_count", "nv_inference_exec_count"):
            if line.startswith(name + "{"):
                counts[name] = float(line.rsplit(" ", 1)[1])
    return (counts["nv_inference_count"], counts["nv_inference_exec_count"]) if len(counts) == 2 else None


def measure(server, args, script):
    """A warm-up, then wrk at each concurrency: {concurrency: Wrk}."""
    if args.warmup:
        run_wrk(server, max(args.concurrency), args.warmup, script)
    results = {}
    for concurrency in args.concurrency:
        before = kiln_counts(server)
        result = results[concurrency] = run_wrk(server, concurrency, args.seconds, script)
        after = kiln_counts(server)
        batches = ""
        if before and after and after[1] > before[1]:
            batches = f", {(after[0] - before[0]) / (after[1] - before[1]):.1f} examples per compiled call"
        print(f"{server.name}, concurrency {concurrency}: {result.rate:.0f} req/s, p50 {result.p50:.2f} ms, "
              f"p99 {result.p99:.2f} ms, {result.requests} requests, errors {result.non2xx} non-2xx + "
              f"{result.socket} socket{batches}", flush=True)
    return results


# ---------------------------------------------------------------------------
# The run


def concurrency_list(text):
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"not a list of positive integers: {text}")
    return values


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(peer.ROOT, "build", MODEL),
                        help="the model binary (kilnc examples/fashion_cnn.kiln --emit=exe)")
    parser.add_argument("--weights", help="safetensors weights for both servers (default: random ones)")
    parser.add_argument("--threads", type=peer.positive, default=2,
                        help="Kiln's --threads, and the peer's gunicorn workers (default 2)")
    parser.add_argument("--seconds", type=peer.positive, default=30, help="per wrk run (default 30)")
    parser.add_argument("--concurrency", type=concurrency_list, default=[1, 16, 64],
                        help="wrk connections, comma-separated (default 1,16,64)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of untimed wrk per server (default 3)")
    parser.add_argument("--max-batch", type=peer.positive, help="Kiln's --max-batch (default: the server's)")
    parser.add_argument("--max-delay-us", type=int, help="Kiln's --max-delay-us (default: the server's)")
    parser.add_argument("--image", type=int, default=0, help="which Fashion-MNIST test image to send (default 0)")
    parser.add_argument("--skip-peer", action="store_true", help="Kiln only: no PyTorch, no Flask")
    args = parser.parse_args()
    args.binary = os.path.abspath(args.binary)
    peer.ensure_packages(["wrk"] + ([] if args.skip_peer else ["python3-flask", "gunicorn"]),
                         "the load generator and the peer's web stack")
    tools = [args.binary, WRK] + ([] if args.skip_peer else [GUNICORN])
    missing = [tool for tool in tools if not os.access(tool, os.X_OK)]
    if missing:
        sys.exit(f"not found or not executable: {', '.join(missing)}")
    return args


def kiln_in_process(args, weights):
    command = [args.binary, "bench", "--batch", "256", "--iters", "50", "--threads", str(args.threads),
               "--weights", weights]
    out = peer.run(command, peer.kiln_env(), 300)
    line = re.search(r"^predict batch 256: .*, ([\d.]+) examples/s.*$", out, re.M)
    if not line:
        sys.exit(f"no `predict batch 256: ..., X examples/s, ...` line from {shlex.join(command)}:\n{out}")
    print(f"Kiln in process: {line.group(0)}", flush=True)
    return float(line.group(1)), command


def kiln_server(args, weights, tmp):
    port = free_port()
    command = [args.binary, "serve", "--weights", weights, "--host", "127.0.0.1", "--port", str(port),
               "--threads", str(args.threads)]
    if args.max_batch:
        command += ["--max-batch", str(args.max_batch)]
    if args.max_delay_us is not None:
        command += ["--max-delay-us", str(args.max_delay_us)]
    server = Server("Kiln", command, peer.kiln_env(), port, tmp)
    line = re.compile(rf"^Serving {MODEL} at http://127\.0\.0\.1:{port}/ \(weights: .*\)$", re.M)

    def ready():
        with open(server.out_path, errors="replace") as f:
            return bool(line.search(f.read())) and is_ready(port)
    return server, ready


def peer_server(args, worker_class, weights, variant, tmp):
    port = free_port()
    command = [GUNICORN, "-w", str(args.threads), "-b", f"127.0.0.1:{port}", "--worker-class", worker_class,
               "--pythonpath", BENCH, "--timeout", "120", "--graceful-timeout", "5", "--log-level", "warning"]
    if os.path.isdir("/dev/shm"):
        command += ["--worker-tmp-dir", "/dev/shm"]  # gunicorn's advice: heartbeats off disk
    command.append("flask_peer:app")
    env = dict(peer.torch_env(1), KILN_PEER_WEIGHTS=weights, KILN_PEER_VARIANT=variant)
    server = Server(f"Flask + PyTorch ({worker_class})", command, env, port, tmp)

    def ready():
        with open(server.err_path, errors="replace") as f:
            return f.read().count("flask_peer ready:") >= args.threads and is_ready(port)
    return server, ready


def run(args, tmp):
    command_line = "/usr/bin/python3 bench/serve_vs_flask.py " + shlex.join(sys.argv[1:])
    weights = args.weights and os.path.abspath(args.weights)
    if not weights:
        weights = os.path.join(tmp, "random.safetensors")
        random_weights(weights)
        print("weights: random (Glorot uniform, seed 1234), in a temporary safetensors file", flush=True)
    body, source = request_body(args.image)
    body_path, script = os.path.join(tmp, "request.json"), os.path.join(tmp, "infer.lua")
    with open(body_path, "w") as f:
        f.write(body)
    level = 1
    while f"]{'=' * level}]" in body:
        level += 1
    with open(script, "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.body = [{"=" * level}[{body}]{"=" * level}]\n'
                'wrk.headers["Content-Type"] = "application/json"\n')
    print(f"request: {source}, {len(body)} bytes of JSON", flush=True)

    if args.skip_peer:
        peak = peer.measure_peak(tmp)
        print(f"fp32 FMA peak of one core: {peak:.1f} GFLOP/s", flush=True)
        machine = None
    else:
        peer.ensure_openblas()
        machine = peer.measure_machine(tmp)
        env = dict(peer.torch_env(1), KILN_PEER_WEIGHTS=weights, KILN_PEER_BODY=body_path)
        rate, text = peer._result(peer.run(peer.pinned(1) + [sys.executable, os.path.abspath(__file__),
                                                             "--torch-child", "torch_choose", "2000"], env, 300))
        chosen = json.loads(text)
        torch_probs = chosen["probs"]
        print(f"PyTorch in process, batch 1, 1 thread: {rate:.0f} images/s with {chosen['variant']}, the fastest "
              "variant (all agree with reference_predict)", flush=True)
    b256, bench_command = kiln_in_process(args, weights)

    servers, kiln_results, peer_results, commands = [], {}, {}, {}
    try:
        server, ready = kiln_server(args, weights, tmp)
        servers.append(server)
        server.wait_until(ready, 60, "ready line and 200 from " + READY_PATH)
        commands["Kiln"] = server.command
        kiln_probs = served_probs(server, body)
        if not args.skip_peer:
            check_same("Kiln", kiln_probs, "PyTorch's reference_predict", torch_probs)
        kiln_results = measure(server, args, script)
        status = server.stop()
        servers.remove(server)
        if status != 0:
            sys.exit(f"Kiln's server exited with {status} on SIGTERM (0 expected):\n{server.output()}")
        if not args.skip_peer:
            for worker_class in PEER_CLASSES:
                server, ready = peer_server(args, worker_class, weights, chosen["variant"], tmp)
                servers.append(server)
                server.wait_until(ready, 180, f"{args.threads} workers ready")
                commands[worker_class] = server.command
                check_same(server.name, served_probs(server, body), "Kiln", kiln_probs)
                peer_results[worker_class] = measure(server, args, script)
                server.stop()
                servers.remove(server)
    finally:
        for server in servers:
            server.stop()

    # The table
    print()
    if machine:
        print(f"Machine: {machine.description}; measured fp32 FMA peak {machine.peak:.0f} GFLOP/s per core; "
              f"PyTorch {machine.torch_version} SGEMM (1024^3, 1 thread) {machine.sgemm:.0f} GFLOP/s "
              f"({100 * machine.sgemm / machine.peak:.0f}% of peak) with OPENBLAS_CORETYPE={machine.coretype}")
    else:
        print(f"Machine: {os.cpu_count()} CPUs; measured fp32 FMA peak {peak:.0f} GFLOP/s per core")
    print(f"Batch-1 requests ({source}, {len(body)} bytes of JSON), KServe v2 REST on loopback, wrk {args.seconds} s "
          f"per point; Kiln --threads {args.threads}"
          + ("" if args.skip_peer else f"; peer: gunicorn -w {args.threads}, the faster worker class per row, "
             f"PyTorch {chosen['variant']} (TorchScript, frozen), 1 thread per worker") + ".\n")
    best = {}
    for concurrency in args.concurrency:
        if peer_results:
            best[concurrency] = max(((worker_class, results[concurrency]) for worker_class, results
                                     in peer_results.items()), key=lambda pair: pair[1].rate)

    def latencies(result):
        return f"{result.p50:.2f} / {result.p99:.2f}"
    print("| concurrency | Kiln req/s | Kiln p50 / p99 (ms) | Kiln errors | Flask + PyTorch req/s "
          "| peer p50 / p99 (ms) | peer errors | Kiln / peer |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for concurrency in args.concurrency:
        k = kiln_results[concurrency]
        row = f"| {concurrency} | {k.rate:.0f} | {latencies(k)} | {k.non2xx + k.socket} |"
        if concurrency in best:
            worker_class, p = best[concurrency]
            row += f" {p.rate:.0f} ({worker_class}) | {latencies(p)} | {p.non2xx + p.socket} | {k.rate / p.rate:.2f} |"
        else:
            row += " - | - | - | - |"
        print(row)

    top = max(args.concurrency)
    served = kiln_results[top].rate
    print(f"\nKiln in process, `bench --batch 256 --iters 50 --threads {args.threads}`: {b256:.0f} images/s; served at "
          f"concurrency {top}: {served:.0f} images/s = {100 * served / b256:.0f}% of it "
          f"(goal >= {100 * BATCH_GOAL:.0f}%: {'met' if served >= BATCH_GOAL * b256 else 'not met'})")
    if 1 in kiln_results:
        p99 = kiln_results[1].p99
        print(f"Kiln p99 at concurrency 1: {p99:.2f} ms (goal <= {P99_GOAL_MS:g} ms: "
              f"{'met' if p99 <= P99_GOAL_MS else 'not met'})")
    if best:
        print("Kiln / peer req/s: " + ", ".join(f"{kiln_results[c].rate / best[c][1].rate:.2f} at concurrency {c}"
                                                 for c in args.concurrency))
        print("Peer by worker class (req/s, p99 ms): " + "; ".join(
            f"c={c}: " + ", ".join(f"{name} {results[c].rate:.0f} ({results[c].p99:.2f})"
                                   for name, results in peer_results.items()) for c in args.concurrency))
        print(f"PyTorch in process (batch 1, 1 thread, {chosen['variant']}): {rate:.0f} images/s")

    print("\nCommand (from the repository root):\n  " + command_line)
    def shown(command):
        """`command` as run from the repository root, the random weights as RANDOM.safetensors."""
        words = []
        for word in command:
            if word == weights and not args.weights:
                word = "RANDOM.safetensors"
            elif word.startswith(peer.ROOT + os.sep):
                word = os.path.relpath(word, peer.ROOT)
            words.append(word)
        return shlex.join(words)
    print("Servers and load (ports picked free per run):")
    print("  " + shown(commands["Kiln"]))
    for worker_class in peer_results:
        print(f"  KILN_PEER_WEIGHTS={shown([weights])} KILN_PEER_VARIANT={shlex.quote(chosen['variant'])} "
              f"(+ peer.torch_env(1)) {shown(commands[worker_class])}")
    print("  " + shown(wrk_command("PORT", top, args.seconds, "infer.lua")))
    print("  " + shown(bench_command))

    errors = [f"{name} at concurrency {c}: {r.non2xx} non-2xx, {r.socket} socket errors"
              for name, results in [("Kiln", kiln_results)] + list(peer_results.items())
              for c, r in results.items() if r.non2xx or r.socket]
    if errors:
        sys.exit("\nERRORS (must be 0):\n  " + "\n  ".join(errors))


def main():
    if sys.argv[1:2] == ["--torch-child"]:
        return peer._child(globals())
    # PyTorch, numpy and Flask are Debian's, under /usr/bin/python3: another
    # python3 first on PATH (pyenv) hands over to it.
    system = "/usr/bin/python3"
    if (importlib.util.find_spec("torch") is None and os.path.exists(system)
            and os.path.realpath(sys.executable) != os.path.realpath(system)):
        os.execv(system, [system, os.path.abspath(__file__)] + sys.argv[1:])
    args = parse_args()
    # SIGTERM (timeout, a CI job's end) stops the servers as an error does;
    # a second one (timeout signals its process group too) must not cut that short.
    def terminated(number, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit("terminated by SIGTERM")
    signal.signal(signal.SIGTERM, terminated)
    with tempfile.TemporaryDirectory(prefix="kiln-serve-") as tmp:
        run(args, tmp)


if __name__ == "__main__":
    main()
