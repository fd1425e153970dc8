"""Writes a copy of a safetensors checkpoint with one thing changed, for the
hardening tests: `nan TENSOR` puts a NaN in the tensor's first value;
`fill TENSOR VALUE` sets every value of an f32 tensor; `meta KEY VALUE`
sets a metadata entry. The format is read by hand (8-byte
little-endian header length, JSON header, data) as the safetensors spec
describes it, so the test does not depend on Kiln's reader.

usage: edit_checkpoint.py IN OUT nan TENSOR | IN OUT fill TENSOR VALUE | IN OUT meta KEY VALUE
"""
import json
import struct
import sys

source, target, action = sys.argv[1:4]
data = open(source, "rb").read()
length = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + length])
body = bytearray(data[8 + length:])
if action == "nan":
    start = header[sys.argv[4]]["data_offsets"][0]
    body[start:start + 4] = struct.pack("<f", float("nan"))
elif action == "fill":
    start, end = header[sys.argv[4]]["data_offsets"]
    body[start:end] = struct.pack("<f", float(sys.argv[5])) * ((end - start) // 4)
elif action == "meta":
    header.setdefault("__metadata__", {})[sys.argv[4]] = sys.argv[5]
else:
    sys.exit("unknown action " + action)
text = json.dumps(header).encode()
open(target, "wb").write(struct.pack("<Q", len(text)) + text + bytes(body))
