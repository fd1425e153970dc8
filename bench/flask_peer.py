"""The Python peer of bench/serve_vs_flask.py: FashionCnn served as a Python
user would serve it, Flask under gunicorn with PyTorch inside, speaking the
same protocol as the model binary's `serve` (KServe v2 / Open Inference
Protocol, REST, JSON):

  POST /v2/models/FashionCnn/infer
    {"inputs": [{"name": "image", "datatype": "FP32", "shape": [N, 28, 28, 1], "data": [N*784 floats]}]}
  -> {"model_name": "FashionCnn", "model_version": "1",
      "outputs": [{"name": "probs", "datatype": "FP32", "shape": [N, 10], "data": [N*10 floats]}]}
  GET /v2/health/ready -> 200 (empty body)

Each gunicorn worker loads, when it imports this module, the parameters of
the safetensors file KILN_PEER_WEIGHTS (Kiln's names and layouts) into the
PyTorch module of bench/serve_vs_flask.py, frozen by TorchScript in the
variant KILN_PEER_VARIANT (serve_vs_flask.VARIANTS; default NCHW),
sets torch.set_num_threads(1), warms the module up and then prints
`flask_peer ready: pid P, VARIANT` on stderr (the benchmark counts those
lines to know that every worker is ready). Per request it parses the JSON,
checks the input's name, datatype, shape and size, builds the tensor, runs
the module under torch.inference_mode() and answers the same JSON as Kiln.

By hand (from the repository root; peer.torch_env's variables give PyTorch
its tuned BLAS and malloc settings):

  KILN_PEER_WEIGHTS=W.safetensors gunicorn -w 2 -b 127.0.0.1:8001 --pythonpath bench flask_peer:app
"""
import os
import sys

import flask
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_vs_flask  # noqa: E402

torch.set_num_threads(1)
VARIANT = os.environ.get("KILN_PEER_VARIANT", serve_vs_flask.VARIANTS[0])
module, layout = serve_vs_flask.torch_module(serve_vs_flask.load_params(os.environ["KILN_PEER_WEIGHTS"]), VARIANT)
serve_vs_flask.warm_up(module, layout)

app = flask.Flask(__name__)


def error(message, status=400):
    return {"error": message}, status


@app.post(serve_vs_flask.INFER_PATH)
def infer():
    payload = flask.request.get_json(silent=True)
    if payload is None:
        return error("the body is not JSON")
    try:
        data, shape = serve_vs_flask.request_image(payload)
    except ValueError as problem:
        return error(str(problem))
    x = torch.tensor(data, dtype=torch.float32).reshape(shape).permute(0, 3, 1, 2).contiguous(memory_format=layout)
    with torch.inference_mode():
        probs = module(x)
    return {"model_name": serve_vs_flask.MODEL, "model_version": "1",
            "outputs": [{"name": "probs", "datatype": "FP32", "shape": list(probs.shape),
                         "data": probs.reshape(-1).tolist()}]}


@app.get(serve_vs_flask.READY_PATH)
def ready():
    return "", 200


print(f"flask_peer ready: pid {os.getpid()}, {VARIANT}", file=sys.stderr, flush=True)
