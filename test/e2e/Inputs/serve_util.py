"""Shared by the serving tests: start a model binary's `serve` on a free
loopback port, talk to it with Python's http.client, and read Fashion-MNIST
test images. Every wait is bounded."""

import gzip
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import numpy as np

FASHION = "/usr/share/datasets/fashion-mnist"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`binary serve --host 127.0.0.1 --port P extra...`, ready when it
    prints its line; stop() sends SIGTERM and returns the exit status."""

    def __init__(self, binary, *extra, timeout=20):
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), *map(str, extra)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.started = time.monotonic()
        self.ready_line = self.process.stdout.readline().strip()
        self.ready_seconds = time.monotonic() - self.started
        if not re.match(r"Serving \S+ at http://127\.0\.0\.1:%d/ \(weights: .*\)$" % self.port, self.ready_line):
            self.process.kill()
            raise SystemExit("FAIL: no ready line; got %r %s" % (self.ready_line, self.process.stdout.read()))

    def connection(self, timeout=20):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        """Returns (status, headers dict, body bytes)."""
        own = conn is None
        conn = conn or self.connection()
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        result = (response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        if own:
            conn.close()
        return result

    def stop(self, timeout=20):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise SystemExit("FAIL: the server did not stop within %d s of SIGTERM" % timeout)
        return self.process.returncode, out


def run_threads(target, count, timeout=120):
    """Runs target(0) ... target(count - 1) on threads of their own, at once,
    and waits for them (each at most `timeout` s)."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)


def test_images(count, offset=0):
    """Fashion-MNIST test images [count, 28, 28, 1], scaled to [0, 1] as the
    model binary scales IDX bytes."""
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")) as f:
        data = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    images = data.reshape(-1, 28, 28, 1)[offset:offset + count]
    return images.astype(np.float32) / np.float32(255)


def infer_body(images, **extra):
    return {"inputs": [{"name": "image", "datatype": "FP32", "shape": list(images.shape),
                        "data": images.reshape(-1).tolist()}], **extra}


def check(condition, message):
    if not condition:
        raise SystemExit("FAIL: " + message)
