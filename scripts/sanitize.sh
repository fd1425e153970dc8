#!/usr/bin/env bash
# The runtime under AddressSanitizer and UndefinedBehaviorSanitizer, as CI
# runs it (scripts/test.sh): builds Kiln's runtime, the model binary's
# commands, the server and the runtime's unit tests with both sanitizers
# (build-asan/), runs those unit tests, then builds FashionCnn with the main
# build's kilnc against the instrumented libraries and trains it briefly on
# Fashion-MNIST, evaluates, predicts, saves and resumes a checkpoint, and
# serves one request. Any sanitizer report fails the script. The compiled
# model code itself is not instrumented (LLVM emits it; bad-labels.test
# checks it from an instrumented caller). docs/reliability.md lists what
# this covers.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
asan="${KILN_ASAN_BUILD_DIR:-$root/build-asan}"
if [[ ! -f "$asan/build.ninja" ]]; then
  cmake -G Ninja -S "$root" -B "$asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE=ON >/dev/null
fi
ninja -C "$asan" -j"${KILN_JOBS:-2}" kiln_runtime kiln_model_support kiln_model_main kiln_server kiln-runtime-tests \
  kiln-server-tests

# Leaks are findings too; a report stops the process with a non-zero status.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== runtime unit tests under ASan+UBSan"
"$asan/test/runtime/kiln-runtime-tests" --gtest_brief=1
echo "== the server's HTTP connection under ASan+UBSan"
"$asan/test/unit/kiln-server-tests" --gtest_brief=1

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "== FashionCnn on the instrumented runtime: train, resume, eval, predict, serve"
"${KILN_BUILD_DIR:-$root/build}/bin/kilnc" "$root/examples/fashion_cnn.kiln" --emit=exe -o "$work/FashionCnn" \
  --runtime-dir "$asan/lib" --link-sanitizers
data=/usr/share/datasets/fashion-mnist
"$work/FashionCnn" train --data "$data" --limit 2000 --epochs 1 --batch 64 --save "$work/w.safetensors"
"$work/FashionCnn" train --data "$data" --limit 500 --epochs 1 --batch 64 --resume "$work/w.safetensors" \
  --save "$work/w.safetensors"
"$work/FashionCnn" eval --data "$data" --weights "$work/w.safetensors"
"$work/FashionCnn" predict --input "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" \
  --weights "$work/w.safetensors" --show 2 --output "$work/probs.npy"
port=$(/usr/bin/python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$work/FashionCnn" serve --weights "$work/w.safetensors" --port "$port" > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "^Serving" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
/usr/bin/python3 - "$port" <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
body = {"inputs": [{"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [0.5] * 784}]}
c.request("POST", "/v2/models/FashionCnn/infer", json.dumps(body), {"Content-Type": "application/json"})
r = c.getresponse()
answer = json.loads(r.read())
assert r.status == 200 and len(answer["outputs"][0]["data"]) == 10, (r.status, answer)
c.request("POST", "/v2/models/FashionCnn/infer", "{\"inputs\": [", {"Content-Type": "application/json"})
r = c.getresponse()
assert r.status == 400, r.status
r.read()
# Raw sockets: pipelined requests in one write, a body over the limit, and a
# client that hangs up mid-request.
import socket
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"GET /v2/health/live HTTP/1.1\r\n\r\nGET /v2 HTTP/1.1\r\n\r\n"
          b"POST /v2/models/FashionCnn/infer HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n")
got = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
s.close()
assert got.count(b"HTTP/1.1 200") == 2 and b"HTTP/1.1 413" in got, got
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"POST /v2/models/FashionCnn/infer HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"inp")
s.close()
print("served one request, refused a broken one, answered pipelined requests and a body over the limit")
PY
kill -TERM "$server"
wait "$server"
if grep -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$work/serve.log"; then exit 1; fi
echo "sanitize.sh: no sanitizer report"
