"""Drives the page that `MODEL serve` shows at / in headless Chromium, over
the Chrome DevTools Protocol (python3-websocket), and checks it against the
server's own answers (Python's http.client):

  card      the model's name, its input, and its parameter count are shown;
  upload    a Fashion-MNIST test image as .npy (uint8 28x28) and as an
            8-bit grey PNG, set on the file input: the page sends exactly
            those pixels / 255 and shows the server's argmax and values;
            a .npy of the wrong shape gives a message in #error;
  error     a request the server refuses (rewritten in flight) puts the
            server's {"error": ...} message in #error;
  draw      a mouse stroke on the canvas: the input the page sent is not all
            zeros, and posting it ourselves gives the argmax and values the
            page shows;
  network   every request the page made went to the server (none outside);
and writes a screenshot. Every wait is bounded; Chromium and the server are
always killed at the end.

usage: check_serve_page.py --binary MODEL --weights W.safetensors --screenshot OUT.png
       check_serve_page.py --url http://127.0.0.1:PORT/ --screenshot OUT.png
         (a server already running: nothing is started but Chromium)"""

import argparse
import base64
import gzip
import http.client
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

import numpy as np
import websocket

sys.path.insert(0, os.path.dirname(__file__))
from serve_util import free_port  # noqa: E402

FASHION_TEST_IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
WAIT = 20  # seconds, for any one thing to happen
OVERALL = 90  # seconds, for everything
STARTED = time.monotonic()


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def wait_for(what, probe, timeout=WAIT, interval=0.05):
    """Calls probe() until it returns something truthy; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure("timed out after %d s waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---- The server, through http.client -------------------------------------------

class Http:
    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80

    def request(self, method, path, body=None):
        """Returns (status, body bytes)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=WAIT)
        try:
            headers = {}
            if body is not None:
                body = json.dumps(body)
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def json(self, method, path, body=None):
        status, data = self.request(method, path, body)
        check(status == 200, "%s %s: %d %r" % (method, path, status, data[:300]))
        return json.loads(data)

    def infer(self, model, spec, values):
        """The server's answer for one example: the first output's values."""
        body = {"inputs": [{"name": spec["name"], "datatype": spec["datatype"],
                            "shape": [1] + spec["shape"][1:],
                            "data": np.asarray(values, dtype=np.float32).reshape(-1).tolist()}]}
        answer = self.json("POST", "/v2/models/%s/infer" % model, body)
        return np.array(answer["outputs"][0]["data"], dtype=np.float64).reshape(-1)


def start_server(binary, weights):
    """`binary serve` on a free port; returns (process, url) once it prints
    its ready line (within 10 s). Its later output is drained by a thread."""
    port = free_port()
    command = [binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "1"]
    if weights:
        command[2:2] = ["--weights", weights]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 10
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            break
        if select.select([process.stdout], [], [], remaining)[0]:
            # os.read, not the buffered file: select() cannot see what a
            # buffer has already taken from the pipe.
            data = os.read(process.stdout.fileno(), 4096)
            if not data:
                break
            line += data
    text = line.decode(errors="replace").split("\n")[0].strip()
    url = "http://127.0.0.1:%d/" % port
    if not text.startswith("Serving ") or (" at %s " % url) not in text:
        stop(process)
        rest = process.stdout.read().decode(errors="replace") if process.stdout else ""
        raise Failure("`%s` printed no ready line within 10 s; got %r %s" % (" ".join(command), text, rest[-2000:]))
    # Keep reading, so that a chatty server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    return process, url


def stop(process):
    """Kills a process we started and everything in its session."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=5)


# ---- Chromium over the DevTools Protocol ---------------------------------------

class Browser:
    """Headless Chromium with one page; send() waits for a command's answer
    and keeps the events that arrive meanwhile in self.events."""

    def __init__(self, chromium, profile):
        self.port = free_port()
        self.log = open(os.path.join(profile, "chromium.log"), "wb")
        self.process = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-port=%d" % self.port, "--user-data-dir=" + os.path.join(profile, "profile"),
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
             "--disable-background-networking", "--disable-component-update", "--window-size=1280,1000",
             "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            target = wait_for("Chromium's DevTools endpoint on port %d" % self.port, self._page_target)
            # suppress_origin: Chromium refuses DevTools websockets that send
            # an Origin header unless --remote-allow-origins names it.
            self.ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=WAIT,
                                                  suppress_origin=True)
        except BaseException:
            stop(self.process)
            self.log.close()
            raise
        self.next_id = 0
        self.events = []

    def _page_target(self):
        if self.process.poll() is not None:
            self.log.flush()
            with open(self.log.name, "rb") as f:
                tail = f.read()[-2000:].decode(errors="replace")
            raise Failure("Chromium exited with %s: %s" % (self.process.returncode, tail))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/json/list")
            targets = json.loads(conn.getresponse().read())
            conn.close()
        except (OSError, ValueError, http.client.HTTPException):
            return None
        pages = [t for t in targets if t.get("type") == "page" and "webSocketDebuggerUrl" in t]
        return pages[0] if pages else None

    def _receive(self, deadline):
        self.ws.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            return json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            return None

    def send(self, method, **params):
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            message = self._receive(deadline)
            if message is None:
                break
            if message.get("id") == ident:
                if "error" in message:
                    raise Failure("%s: %s" % (method, message["error"]))
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)
                self._on_event(message)
        raise Failure("no answer to %s within %d s" % (method, WAIT))

    def _on_event(self, message):
        pass  # replaced by the test for events that need an answer

    def pump(self, seconds):
        """Reads events for a while (those that arrive without a command)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self._receive(deadline)
            if message is not None and "method" in message:
                self.events.append(message)
                self._on_event(message)

    def evaluate(self, expression):
        """The value of a JS expression in the page (awaited if a promise)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise Failure("JS %r threw: %s" % (expression[:80], details.get("exception", {}).get("description",
                                                                                            details.get("text"))))
        return result["result"].get("value")

    def wait_js(self, what, expression, timeout=WAIT):
        """Polls a JS expression until it is truthy, reading events between."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise Failure("timed out after %d s waiting for %s" % (timeout, what))
            self.pump(0.05)

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        stop(self.process)
        self.log.close()


# ---- Test images ---------------------------------------------------------------

def fashion_image(index):
    with gzip.open(FASHION_TEST_IMAGES) as f:
        data = f.read()
    check(data[:4] == b"\x00\x00\x08\x03", "%s is not an IDX image file" % FASHION_TEST_IMAGES)
    return np.frombuffer(data, dtype=np.uint8, offset=16 + 784 * index, count=784).reshape(28, 28)


def write_png(path, grey):
    """An 8-bit greyscale PNG, written by hand: IHDR, one IDAT, IEND."""
    height, width = grey.shape

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    rows = b"".join(b"\x00" + grey[r].tobytes() for r in range(height))  # filter 0 (None) per row
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(rows, 9)))
        f.write(chunk(b"IEND", b""))


# ---- The checks ----------------------------------------------------------------

PREDICTION = """(() => { const p = document.querySelector('#prediction');
  return {seq: Number(p.dataset.seq || 0), cls: p.dataset.class, values: p.dataset.values,
          text: p.textContent.trim(), error: document.querySelector('#error').textContent}; })()"""


def shown_seq(browser):
    return browser.evaluate(PREDICTION)["seq"]


def wait_prediction(browser, after, what):
    """Waits for a prediction newer than `after` (or an error) on the page."""
    def probe():
        state = browser.evaluate(PREDICTION)
        if state["error"]:
            raise Failure("%s: the page shows an error: %s" % (what, state["error"]))
        return state if state["seq"] > after and state["cls"] is not None else None
    deadline = time.monotonic() + WAIT
    while True:
        state = probe()
        if state:
            return state
        if time.monotonic() > deadline:
            raise Failure("%s: no prediction on the page within %d s" % (what, WAIT))
        browser.pump(0.05)


def compare(what, state, expected, class_names):
    """The page's argmax and values against the server's answer."""
    values = np.array(json.loads(state["values"]), dtype=np.float64)
    check(values.shape == expected.shape, "%s: the page shows %d values, the server answers %d"
          % (what, values.size, expected.size))
    argmax = int(np.argmax(expected))
    check(int(state["cls"]) == argmax, "%s: the page says class %s, the server's argmax is %d (%s)"
          % (what, state["cls"], argmax, expected.tolist()))
    diff = float(np.abs(values - expected).max())
    check(diff <= 1e-5, "%s: the page's values differ from the server's by %g" % (what, diff))
    if class_names:
        check(class_names[argmax] in state["text"], "%s: %r does not name %s" % (what, state["text"], class_names[argmax]))
    check(("class %d" % argmax) in state["text"], "%s: %r does not say class %d" % (what, state["text"], argmax))
    return argmax


def set_file(browser, selector, path):
    root = browser.send("DOM.getDocument", depth=0)["root"]["nodeId"]
    node = browser.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
    check(node, "no %s on the page" % selector)
    browser.send("DOM.setFileInputFiles", files=[path], nodeId=node)


def run(args, work):
    server = None
    browser = None
    try:
        if args.url:
            url = args.url if args.url.endswith("/") else args.url + "/"
        else:
            server, url = start_server(args.binary, args.weights)
        origin = url.rstrip("/")
        http_ = Http(url)
        models = http_.json("POST", "/v2/repository/index", {})
        check(models, "the server serves no model")
        model = models[0]["name"]
        card = http_.json("GET", "/v2/models/%s/card" % model)
        spec = card["inputs"][0]
        check(spec["datatype"] == "FP32" and spec["shape"][1:] in ([28, 28, 1], [28, 28], [1, 28, 28]),
              "this test needs a 28x28 image model; %s takes %r" % (model, spec))
        class_names = CLASSES if model == "FashionCnn" and card["outputs"][0]["shape"] == [-1, 10] else None

        browser = Browser(args.chromium, work)
        requested = []  # every URL the page asked for
        exceptions = []

        # Rewrites the next infer request, when armed, into one the server
        # refuses (an image one pixel narrower), to see its message shown.
        spoil = {"armed": False, "done": False}

        def on_event(message):
            method, params = message["method"], message.get("params", {})
            if method == "Network.requestWillBeSent":
                requested.append(params["request"]["url"])
            elif method == "Runtime.exceptionThrown":
                exceptions.append(params["exceptionDetails"].get("exception", {}).get("description")
                                  or params["exceptionDetails"].get("text"))
            elif method == "Fetch.requestPaused":
                request = params["request"]
                text = request.get("postData") or b"".join(
                    base64.b64decode(e.get("bytes", "")) for e in request.get("postDataEntries", [])).decode()
                body = json.loads(text or "null")
                if spoil["armed"] and body:
                    body["inputs"][0]["shape"] = [1, 28, 27, 1] if len(body["inputs"][0]["shape"]) == 4 else [1, 28, 27]
                    spoil.update(armed=False, done=True)
                    browser.ws.send(json.dumps({"id": 10 ** 9, "method": "Fetch.continueRequest", "params": {
                        "requestId": params["requestId"],
                        "postData": base64.b64encode(json.dumps(body).encode()).decode()}}))
                else:
                    browser.ws.send(json.dumps({"id": 10 ** 9, "method": "Fetch.continueRequest",
                                                "params": {"requestId": params["requestId"]}}))

        browser._on_event = on_event
        browser.send("Network.enable")
        browser.send("Runtime.enable")
        browser.send("Page.enable")
        browser.send("DOM.enable")
        browser.send("Emulation.setDeviceMetricsOverride", width=1280, height=1000, deviceScaleFactor=1, mobile=False)
        browser.send("Page.navigate", url=url)
        deadline = time.monotonic() + WAIT
        while not any(e["method"] == "Page.loadEventFired" for e in browser.events):
            check(time.monotonic() < deadline, "the page did not load within %d s" % WAIT)
            browser.pump(0.05)

        # a. The card.
        shown = browser.wait_js("the model card", """(() => {
            const error = document.querySelector('#error').textContent;
            if (error) return {error};
            const name = document.querySelector('#model-name').textContent;
            const inputs = document.querySelector('#card-inputs');
            const total = document.querySelector('#param-total');
            const weights = document.querySelector('#card-weights');
            return name && inputs && total && weights ?
                {name, inputs: inputs.innerText, total: total.textContent, weights: weights.textContent,
                 body: document.querySelector('#card-body').innerText} : null; })()""")
        check("error" not in shown, "the page shows an error: %s" % shown.get("error"))
        check(shown["name"] == model, "#model-name shows %r, the server serves %r" % (shown["name"], model))
        check(spec["name"] in shown["inputs"].split(), "the card's inputs %r lack %r" % (shown["inputs"], spec["name"]))
        shape_text = "[" + ", ".join("N" if d < 0 else str(d) for d in spec["shape"]) + "]"
        check(shape_text in shown["inputs"], "the card's inputs %r lack the shape %s" % (shown["inputs"], shape_text))
        check(int("".join(c for c in shown["total"] if c.isdigit())) == card["parameter_count"],
              "the card's parameter count %r is not %d" % (shown["total"], card["parameter_count"]))
        if card.get("weights"):
            check(shown["weights"] == card["weights"], "the card shows weights %r, not %r" % (shown["weights"], card["weights"]))
        else:
            check("untrained" in shown["weights"], "the card shows weights %r for an untrained model" % shown["weights"])
        for key in card.get("training") or {}:
            check(key.replace("_", " ") in shown["body"], "the card lacks the training value %r" % key)
        print("card: %s %s %s %s, %d parameters, weights %s, training: %s" % (
            shown["name"], spec["name"], spec["datatype"], shape_text, card["parameter_count"],
            "from the file" if card.get("weights") else "untrained",
            " ".join(sorted(card.get("training") or {})) or "none"), flush=True)

        # b. Uploads: the same test image as .npy and as PNG.
        grey = fashion_image(args.image)
        pixels = grey.astype(np.float32) / np.float32(255)
        expected = http_.infer(model, spec, pixels)
        npy = os.path.join(work, "image.npy")
        np.save(npy, grey)
        png = os.path.join(work, "image.png")
        write_png(png, grey)
        for kind, path in [("npy", npy), ("png", png)]:
            before = shown_seq(browser)
            set_file(browser, "#upload", path)
            state = wait_prediction(browser, before, "upload " + kind)
            sent = np.array(browser.evaluate("window.kilnPageInput()"), dtype=np.float32)
            check(sent.size == 784 and np.array_equal(sent, pixels.reshape(-1)),
                  "upload %s: the page sent other pixels than the file's / 255 (max difference %g)"
                  % (kind, float(np.abs(sent.reshape(-1)[:784] - pixels.reshape(-1)[:sent.size]).max())
                     if sent.size else -1))
            argmax = compare("upload " + kind, state, expected, class_names)
            print("upload %s: class %d%s matches the server" % (
                kind, argmax, " (%s)" % class_names[argmax] if class_names else ""), flush=True)

        # A .npy that holds no 28x28 image: the page says so.
        bad = os.path.join(work, "bad.npy")
        np.save(bad, np.zeros((3, 5), dtype=np.float32))
        set_file(browser, "#upload", bad)
        message = browser.wait_js("#error after a bad .npy", "document.querySelector('#error').textContent")
        check("(3, 5)" in message, "a (3, 5) .npy: #error says %r" % message)
        print("upload bad npy: %s" % message, flush=True)

        # The server's refusal, shown: Predict, with the request rewritten in flight.
        browser.send("Fetch.enable", patterns=[{"urlPattern": "*/infer", "requestStage": "Request"}])
        spoil["armed"] = True
        browser.evaluate("document.querySelector('#predict').click()")
        message = browser.wait_js("#error after a refused request", "document.querySelector('#error').textContent")
        browser.send("Fetch.disable")
        check(spoil["done"], "the infer request was not intercepted")
        check(" 400 " in message and "28" in message, "a refused request: #error says %r" % message)
        print("server error shown: %s" % message, flush=True)

        # c. Draw a stroke with the mouse on a cleared canvas.
        browser.evaluate("document.querySelector('#clear').click()")
        box = browser.evaluate("""(() => { const c = document.querySelector('#draw-canvas');
            c.scrollIntoView({block: 'center'});
            const r = c.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; })()""")
        check(box["w"] >= 28 * 4 and box["h"] >= 28 * 4, "the canvas is drawn only %gx%g px" % (box["w"], box["h"]))
        # A trouser-like shape: down the left leg, up to the waist, down the right leg.
        path = [(0.35, 0.85), (0.38, 0.15), (0.62, 0.15), (0.65, 0.85)]
        points = []
        for (x0, y0), (x1, y1) in zip(path, path[1:]):
            points += [(x0 + (x1 - x0) * t / 12, y0 + (y1 - y0) * t / 12) for t in range(12)]
        points.append(path[-1])
        points = [(box["x"] + box["w"] * x, box["y"] + box["h"] * y) for x, y in points]
        before = shown_seq(browser)
        mouse = dict(button="left", clickCount=1)
        browser.send("Input.dispatchMouseEvent", type="mouseMoved", x=points[0][0], y=points[0][1])
        browser.send("Input.dispatchMouseEvent", type="mousePressed", x=points[0][0], y=points[0][1], buttons=1, **mouse)
        for x, y in points[1:]:
            browser.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left", buttons=1)
        browser.send("Input.dispatchMouseEvent", type="mouseReleased", x=points[-1][0], y=points[-1][1], buttons=0,
                     **mouse)
        state = wait_prediction(browser, before, "draw")
        sent = np.array(browser.evaluate("window.kilnPageInput()"), dtype=np.float32)
        request = browser.evaluate("window.kilnPageRequest()")
        check(request["inputs"][0]["shape"] == [1] + spec["shape"][1:],
              "draw: the page sent shape %r" % request["inputs"][0]["shape"])
        check(sent.size == 784 and np.count_nonzero(sent) >= 20 and 0 <= sent.min() and sent.max() <= 1,
              "draw: the page sent %d non-zero values in [%g, %g]" % (np.count_nonzero(sent), sent.min(), sent.max()))
        check(np.count_nonzero((sent > 0) & (sent < 1)) > 0, "draw: the brush has no soft edge")
        argmax = compare("draw", state, http_.infer(model, spec, sent), class_names)
        print("draw: class %d%s matches the server (%d pixels drawn)" % (
            argmax, " (%s)" % class_names[argmax] if class_names else "", np.count_nonzero(sent)), flush=True)

        # d. The screenshot.
        shot = browser.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        data = base64.b64decode(shot["data"])
        check(data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000, "the screenshot is not a PNG")
        with open(args.screenshot, "wb") as f:
            f.write(data)
        print("screenshot: %s" % args.screenshot, flush=True)

        # Nothing from outside; no uncaught JS exception.
        browser.pump(0.1)
        outside = [u for u in requested if not (u == origin or u.startswith(origin + "/") or
                                                u.startswith("data:") or u.startswith("blob:"))]
        check(not outside, "the page fetched from outside %s: %s" % (origin, outside))
        check(not exceptions, "uncaught JS exceptions: %s" % exceptions)
        print("network: %d requests, all to %s" % (len(requested), urllib.parse.urlsplit(url).hostname), flush=True)
    finally:
        if browser is not None:
            browser.close()
        stop(server)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", help="the model binary to serve")
    parser.add_argument("--weights", help="its --weights")
    parser.add_argument("--url", help="a server already running (then --binary is not started)")
    parser.add_argument("--screenshot", required=True, help="where to write the page's PNG")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--image", type=int, default=0, help="which Fashion-MNIST test image to upload")
    args = parser.parse_args()
    if not args.url and not args.binary:
        parser.error("give --binary (and --weights) or --url")
    work = tempfile.mkdtemp(prefix="kiln-serve-page-")

    # Every wait is bounded; this bounds them all together, and the
    # `finally`s still stop Chromium and the server.
    def overdue(signum, frame):
        raise Failure("the whole check took over %d s" % OVERALL)
    signal.signal(signal.SIGALRM, overdue)
    signal.alarm(OVERALL)
    try:
        run(args, work)
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr, flush=True)
        return 1
    finally:
        signal.alarm(0)
        shutil.rmtree(work, ignore_errors=True)
    print("done in %.1f s" % (time.monotonic() - STARTED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
