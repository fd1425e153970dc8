#!/usr/bin/env bash
# Kiln's main job (README): set up and build, print a summary of every
# example model, then compile the Fashion-MNIST CNN (examples/fashion_cnn.kiln)
# to a standalone binary, train it on Fashion-MNIST (Debian's
# dataset-fashion-mnist), save its weights, show it predicting test
# images with their true classes, and serve it: start `serve` on the trained
# weights, send one test image with curl (the Open Inference Protocol's JSON),
# print the answer next to the true label, and stop the server.
#
# By default it trains one epoch on all 60000 training images (about 15 s on
# this 2-core machine; about 87% test accuracy). KILN_MAIN_EPOCHS=3 runs the full recipe of docs/training.md;
# KILN_MAIN_LIMIT=N trains on the first N images only.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
build="${KILN_BUILD_DIR:-$root/build}"
data=/usr/share/datasets/fashion-mnist
work="${KILN_MAIN_DIR:-$root/build/main-job}"
mkdir -p "$work"

for f in "$root"/examples/*.kiln; do
  echo "== ${f#$root/}"
  "$build/bin/kilnc" "$f" --emit=summary
done

echo "== compiling examples/fashion_cnn.kiln to $work/FashionCnn"
"$build/bin/kilnc" "$root/examples/fashion_cnn.kiln" --emit=exe -o "$work/FashionCnn"
limit=()
[[ -n "${KILN_MAIN_LIMIT:-}" ]] && limit=(--limit "$KILN_MAIN_LIMIT")
"$work/FashionCnn" train --data "$data" --epochs "${KILN_MAIN_EPOCHS:-1}" --batch 128 \
  "${limit[@]}" --seed 0 --save "$work/fashion_cnn.safetensors"
echo "== predicting test images with the trained weights"
"$work/FashionCnn" predict --input "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" \
  --weights "$work/fashion_cnn.safetensors" --show 8

echo "== serving the trained model over HTTP (docs/serving.md)"
# A free port: the server picks one (--port 0) and says which on its ready line.
"$work/FashionCnn" serve --weights "$work/fashion_cnn.safetensors" --port 0 > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '^Serving' "$work/serve.log" && break; sleep 0.1; done
head -1 "$work/serve.log"
url=$(grep -o 'http://[^ ]*' "$work/serve.log" | head -1)
# Test image 0 as an inference request (the client side may be any language;
# here Python writes the JSON), and its true label.
/usr/bin/python3 - "$data" "$work/request.json" > "$work/label.txt" <<'PY'
import gzip, json, sys
import numpy as np
data, out = sys.argv[1], sys.argv[2]
image = np.frombuffer(gzip.open(data + "/t10k-images-idx3-ubyte.gz").read(), np.uint8, 784, 16) / 255.0
label = np.frombuffer(gzip.open(data + "/t10k-labels-idx1-ubyte.gz").read(), np.uint8, 1, 8)[0]
json.dump({"id": "test-image-0", "inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 28, 28, 1],
                                             "data": [round(float(v), 6) for v in image]}]}, open(out, "w"))
print(label)
PY
echo "\$ curl -s -H 'Content-Type: application/json' --data-binary @request.json ${url}v2/models/FashionCnn/infer"
curl -s -H 'Content-Type: application/json' --data-binary @"$work/request.json" "${url}v2/models/FashionCnn/infer" \
  | tee "$work/answer.json"
echo
/usr/bin/python3 -c '
import json, sys
probs = json.load(open(sys.argv[1]))["outputs"][0]["data"]
best = max(range(len(probs)), key=probs.__getitem__)
print("served prediction: class %d (p = %.3f); true label: %s" % (best, probs[best], sys.argv[2]))
' "$work/answer.json" "$(cat "$work/label.txt")"
kill -TERM $server
wait $server
trap - EXIT
echo "server stopped"
