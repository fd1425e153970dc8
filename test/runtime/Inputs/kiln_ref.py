#!/usr/bin/env python3
"""Independent Python readers and writers for the Kiln runtime's lit tests.

Each format is implemented here from its published description with gzip,
struct, json, zlib and numpy only, never by calling Kiln, and prints tensor
summaries in exactly the format of `kiln-runtime-tool`:

    dtype u8
    shape [60000, 28, 28]
    crc32 <crc-32 of the little-endian data, 8 hex digits>
    sum <exact sum>            (integer dtypes only)
    values <first up to 8 elements; f32 as %.9g, f64 as %.17g>

so that a test can `diff` the two. It also reimplements the runtime's
parameter initialization (SplitMix64 seeded from FNV-1a of the name) from
docs/runtime.md.

Usage: kiln_ref.py COMMAND ARGS (see main()).
"""

import csv
import gzip
import json
import math
import os
import struct
import sys
import zlib

import numpy as np

# numpy dtype -> Kiln dtype name.
KILN_NAMES = {
    np.dtype("<f4"): "f32",
    np.dtype("<f8"): "f64",
    np.dtype("<i4"): "i32",
    np.dtype("<i8"): "i64",
    np.dtype("u1"): "u8",
}


def summary(array):
    """The summary lines of `array` (already in a Kiln dtype)."""
    name = KILN_NAMES[array.dtype]
    flat = np.ascontiguousarray(array).reshape(-1)
    lines = [
        "dtype " + name,
        "shape [" + ", ".join(str(d) for d in array.shape) + "]",
        "crc32 %08x" % (zlib.crc32(flat.tobytes()) & 0xFFFFFFFF),
    ]
    if name in ("i32", "i64", "u8"):
        lines.append("sum %d" % sum(int(v) for v in flat.tolist()))
    values = []
    for v in flat[:8].tolist():
        if name == "f32":
            values.append("%.9g" % v)
        elif name == "f64":
            values.append("%.17g" % v)
        else:
            values.append("%d" % v)
    lines.append("values" + "".join(" " + v for v in values))
    return "\n".join(lines)


# --- IDX ---------------------------------------------------------------------

IDX_TYPES = {0x08: (">u1", "u1"), 0x09: (">i1", "<i4"), 0x0B: (">i2", "<i4"),
             0x0C: (">i4", "<i4"), 0x0D: (">f4", "<f4"), 0x0E: (">f8", "<f8")}


def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0, "bad magic"
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    file_type, kiln_type = IDX_TYPES[code]
    data = np.frombuffer(raw, dtype=file_type, offset=4 + 4 * ndim)
    return data.reshape(dims).astype(kiln_type)


def write_idx(path, array, code):
    file_type = IDX_TYPES[code][0]
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, code, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(np.ascontiguousarray(array, dtype=file_type).tobytes())


FASHION_MNIST = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist


def fashion_images(raw):
    """Fashion-MNIST's u8 images as FashionCnn's input, f32[N, 28, 28, 1] in
    [0, 1]: what the model binaries make of the IDX files."""
    return (raw.astype(np.float32) / 255).reshape(-1, 28, 28, 1)


def write_image_split(directory, image, label):
    """A training directory of image.npy (as given) and label.npy (i32)."""
    os.makedirs(directory, exist_ok=True)
    np.save(os.path.join(directory, "image.npy"), image)
    np.save(os.path.join(directory, "label.npy"), label.astype(np.int32))


def write_fashion_npy(directory, count):
    """The first `count` Fashion-MNIST training examples as an .npy training
    directory (which, unlike the IDX directory, has no test split)."""
    images = read_idx(os.path.join(FASHION_MNIST, "train-images-idx3-ubyte.gz"))[:count]
    labels = read_idx(os.path.join(FASHION_MNIST, "train-labels-idx1-ubyte.gz"))[:count]
    write_image_split(directory, fashion_images(images), labels)


# --- safetensors -------------------------------------------------------------

ST_DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1"}
ST_NAMES = {np.dtype(v): k for k, v in ST_DTYPES.items()}


def read_safetensors(path):
    """Returns ([(name, array)] in data order, metadata dict), by the spec."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = []
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = np.dtype(ST_DTYPES[info["dtype"]])
        array = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"])
        assert array.nbytes == end - begin
        tensors.append((begin, end, name, array))
    tensors.sort(key=lambda t: (t[0], t[1]))
    return [(name, array) for _, _, name, array in tensors], metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes [(name, array)] by the spec: u64 header length, JSON padded
    with spaces to 8 bytes, contiguous little-endian data."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    blobs = []
    for name, array in tensors:
        blob = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": ST_NAMES[array.dtype],
                        "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def print_safetensors(tensors, metadata):
    for name, array in tensors:
        print("tensor " + name)
        print(summary(array))
    for key in ("format", "kiln.model", "note"):
        if key in metadata:
            print("metadata %s %s" % (key, metadata[key]))


# --- parameter initialization ------------------------------------------------

MASK = (1 << 64) - 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def glorot_uniform(shape, seed, name, dtype):
    if len(shape) == 0:
        fan_in = fan_out = 1
    elif len(shape) == 1:
        fan_in = fan_out = shape[0]
    elif len(shape) == 2:
        fan_in, fan_out = shape
    else:
        receptive = math.prod(shape[:-2])
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = math.sqrt(6.0 / (float(fan_in) + float(fan_out)))
    state = mix64(seed ^ mix64(fnv1a64(name)))
    values = []
    for _ in range(math.prod(shape)):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        u = (mix64(state) >> 11) * 2.0 ** -53
        values.append(limit * (2.0 * u - 1.0))
    return np.array(values, dtype=np.float64).astype(dtype).reshape(shape)


# --- commands ----------------------------------------------------------------


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "idx-summary":
        print(summary(read_idx(args[0])))
    elif command == "write-idx":
        # write-idx DIR: one small IDX file per element type.
        d = args[0]
        values = np.array([[-128, -1, 0], [1, 77, 127]])
        write_idx(d + "/i8.idx", values.astype("i1"), 0x09)
        write_idx(d + "/i16.idx", (values * 250).astype("i2"), 0x0B)
        write_idx(d + "/i32.idx", (values * 16000000).astype("i4"), 0x0C)
        write_idx(d + "/f32.idx", (values / 3.0).astype("f4"), 0x0D)
        write_idx(d + "/f64.idx", (values / 7.0).reshape(3, 2, 1), 0x0E)
        write_idx(d + "/u8.idx", np.arange(24, dtype="u1").reshape(2, 3, 4), 0x08)
        with open(d + "/u8.idx", "rb") as f:
            raw = f.read()
        with gzip.open(d + "/u8.idx.gz", "wb") as f:
            f.write(raw)
    elif command == "gunzip":
        with gzip.open(args[0], "rb") as f, open(args[1], "wb") as g:
            g.write(f.read())
    elif command == "npy-summary":
        array = np.load(args[0])
        print(summary(array.astype(array.dtype.newbyteorder("<")) if array.dtype.itemsize > 1 else array))
    elif command == "write-npy":
        # write-npy DIR: .npy files of each dtype, in versions 1.0 to 3.0.
        d = args[0]
        rng = np.random.default_rng(3)
        np.save(d + "/f32.npy", rng.standard_normal((3, 5)).astype("<f4"))
        np.save(d + "/f64.npy", rng.standard_normal((2, 2, 2)))
        np.save(d + "/i32.npy", np.arange(-5, 7, dtype="<i4").reshape(4, 3))
        np.save(d + "/i64.npy", np.array([2**40, -2**40, 7], dtype="<i8"))
        np.save(d + "/u8.npy", np.arange(200, 256, dtype="u1"))
        np.save(d + "/scalar.npy", np.float32(2.5))
        np.save(d + "/empty.npy", np.zeros((0, 3), dtype="<f4"))
        for version in ((2, 0), (3, 0)):
            with open(d + "/v%d.npy" % version[0], "wb") as f:
                np.lib.format.write_array(
                    f, np.arange(6, dtype="<f8").reshape(2, 3) / 4, version=version)
        np.save(d + "/fortran.npy", np.asfortranarray(np.ones((2, 3), dtype="<f4")))
        np.save(d + "/f16.npy", np.ones(3, dtype="<f2"))
        np.save(d + "/bigendian.npy", np.ones(3, dtype=">f4"))
    elif command == "npy-equal":
        a, b = np.load(args[0]), np.load(args[1])
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), (a, b)
        print("equal", a.dtype.str, list(a.shape))
    elif command == "truncate":
        # truncate IN OUT NBYTES: the first NBYTES bytes of IN.
        with open(args[0], "rb") as f:
            raw = f.read(int(args[2]))
        with open(args[1], "wb") as f:
            f.write(raw)
    elif command == "write-csv":
        # write-csv DIR: a good file (quotes, CRLF, blank lines) and bad ones.
        d = args[0]
        with open(d + "/good.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(["id", "sepal length", "label, quoted", "petal"])
            for i in range(7):
                w.writerow([i, 5.1 + i / 10, "x" if i % 2 else 'say "hi"', -1.5e-3 * i])
            f.write("\r\n")
        with open(d + "/text.csv", "w") as f:
            f.write("a,b\n1,2\n3,abc\n")
        with open(d + "/empty-cell.csv", "w") as f:
            f.write("a,b\n1,2\n3,\n")
        with open(d + "/ragged.csv", "w") as f:
            f.write("a,b\n1,2\n\n3,4,5\n")
    elif command == "csv-summary":
        # csv-summary FILE COLUMN...: f32 [rows, columns].
        with open(args[0], newline="") as f:
            rows = list(csv.DictReader(f))
        array = np.array([[float(r[c]) for c in args[1:]] for r in rows], dtype="<f4")
        print(summary(array.reshape(len(rows), len(args) - 1)))
    elif command == "safetensors-summary":
        print_safetensors(*read_safetensors(args[0]))
    elif command == "write-safetensors":
        rng = np.random.default_rng(11)
        tensors = [
            ("layer.weight", rng.standard_normal((3, 4)).astype("<f4")),
            ("layer.bias", np.array([0.25, -0.5, 1e-30], dtype="<f4")),
            ("table", rng.standard_normal((2, 3, 2))),
            ("counts", np.array([[1, -2], [3, 2**31 - 1]], dtype="<i4")),
            ("step", np.array(2**40 + 3, dtype="<i8")),
            ("pixels", np.arange(250, 256, dtype="u1").reshape(2, 3)),
            ("nothing", np.zeros((2, 0), dtype="<f8")),
        ]
        write_safetensors(args[0], tensors, {"format": "pt", "note": "by python"})
    elif command == "safetensors-equal":
        (a, ma), (b, mb) = read_safetensors(args[0]), read_safetensors(args[1])
        assert ma == mb, (ma, mb)
        assert sorted(n for n, _ in a) == sorted(n for n, _ in b)
        bd = dict(b)
        for name, array in a:
            other = bd[name]
            assert array.dtype == other.dtype and array.shape == other.shape, name
            assert np.array_equal(array, other), name
        print("equal %d tensors" % len(a))
    elif command == "check-demo":
        # The tensors kiln-runtime-tool safetensors-demo writes, recomputed.
        tensors, metadata = read_safetensors(args[0])
        got = dict(tensors)
        expected = {
            "dense_0.kernel": glorot_uniform((4, 3), 7, "dense_0.kernel", "<f4"),
            "dense_0.bias": np.full((3,), 0.5, dtype="<f4"),
            "conv2d_0.kernel": glorot_uniform((3, 3, 1, 2), 7, "conv2d_0.kernel", "<f8"),
            "step": np.array(12345, dtype="<i8"),
            "ids": np.array([1 - 3 * i for i in range(5)], dtype="<i4"),
            "mask": np.array([[250, 251], [252, 253]], dtype="u1"),
            "empty": np.ones((0, 4), dtype="<f4"),
        }
        assert set(got) == set(expected), sorted(got)
        for name, array in expected.items():
            assert got[name].dtype == array.dtype, name
            assert got[name].shape == array.shape, name
            assert np.array_equal(got[name], array), name
        assert metadata == {"format": "pt", "kiln.model": "Demo"}, metadata
        with open(args[0], "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
        assert n % 8 == 0, n
        print("demo ok: %d tensors, header %d bytes" % (len(got), n))
    elif command == "init":
        # init glorot_uniform DTYPE SEED NAME DIM...
        kind, dtype, seed, name = args[0], args[1], int(args[2]), args[3]
        shape = tuple(int(d) for d in args[4:])
        assert kind == "glorot_uniform"
        np_dtype = {"f32": "<f4", "f64": "<f8"}[dtype]
        for v in glorot_uniform(shape, seed, name, np_dtype).reshape(-1).tolist():
            print(("%.9g" if dtype == "f32" else "%.17g") % v)
    else:
        sys.exit("kiln_ref.py: unknown command " + command)


if __name__ == "__main__":
    main(sys.argv)
