"""Serving a model with an INT32 input and several inputs and outputs
(Inputs/pick.kiln): KServe v2 with INT32 data, its datatype errors, and TF
Serving's object instances. Expected values come from NumPy.

usage: check_serve_int32.py BINARY"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from serve_util import Server, check  # noqa: E402

server = Server(sys.argv[1])
try:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    idx = np.array([0, 1, 2, 3, int(np.argmax(x[4]))], dtype=np.int32)
    status, _, data = server.request("GET", "/v2/models/Pick")
    check(json.loads(data)["inputs"][1] == {"name": "idx", "datatype": "INT32", "shape": [-1]}, data)
    body = {"inputs": [{"name": "idx", "datatype": "INT32", "shape": [5], "data": idx.tolist()},
                       {"name": "x", "datatype": "FP32", "shape": [5, 4], "data": x.tolist()}]}
    status, _, data = server.request("POST", "/v2/models/Pick/infer", body)
    check(status == 200, "%d %r" % (status, data))
    outputs = {o["name"]: np.array(o["data"], np.float32) for o in json.loads(data)["outputs"]}
    check(np.array_equal(outputs["hit"], (x.argmax(1) == idx).astype(np.float32)), "hit: %r" % outputs["hit"])
    check(np.allclose(outputs["s"], x.sum(1), atol=1e-5), "s: %r" % outputs["s"])
    print("INT32 input: answers equal NumPy's")

    for value, message in [(1.5, "not a 32-bit integer"), (2 ** 31, "not a 32-bit integer")]:
        bad = json.loads(json.dumps(body))
        bad["inputs"][0]["data"][0] = value
        status, _, data = server.request("POST", "/v2/models/Pick/infer", bad)
        check(status == 400 and message in json.loads(data)["error"], "%r: %d %r" % (value, status, data))
    bad = json.loads(json.dumps(body))
    bad["inputs"][0]["datatype"] = "FP32"
    status, _, data = server.request("POST", "/v2/models/Pick/infer", bad)
    check(status == 400 and "the model takes INT32" in json.loads(data)["error"], data)
    print("INT32 errors: 400")

    instances = [{"x": x[i].tolist(), "idx": int(idx[i])} for i in range(5)]
    status, _, data = server.request("POST", "/v1/models/Pick:predict", {"instances": instances})
    predictions = json.loads(data)["predictions"]
    check(status == 200 and [p["hit"] for p in predictions] == outputs["hit"].tolist(), data)
    print("TF Serving: object instances, rank-1 outputs as scalars")
finally:
    code, out = server.stop()
check(code == 0, "exit %d %s" % (code, out))
