"""Shared by the interop scripts: a minimal safetensors reader/writer (json +
struct + tensor bytes; the `safetensors` package is not needed), the PyTorch
twins of the typenet networks the test uses, and the skip convention.

The networks are nn.Sequential so their state_dict names ("0.weight", ...)
are the ones typenet uses: the index counts every layer, activations, pooling
and Flatten included.
"""
import json
import struct
import sys

SKIP = 77  # ctest's SKIP_RETURN_CODE for these tests


def import_torch_or_skip():
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"interop: SKIPPED - PyTorch is not importable by {sys.executable}; "
              "install python3-torch (Debian) or configure with -DTYPENET_PYTHON=<python with torch>")
        sys.exit(SKIP)
    torch.set_num_threads(1)
    return torch


def _dtypes(torch):
    return {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> torch.Tensor (written in insertion order)."""
    import torch
    names = _dtypes(torch)
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)  # data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Returns (dict name -> torch.Tensor, metadata dict)."""
    import torch
    by_name = {v: k for k, v in _dtypes(torch).items()}
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    body = data[8 + n:]
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        dtype = by_name[e["dtype"]]
        raw = bytearray(body[begin:end])
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(e["shape"]).clone()
    return out, metadata


def reference_cnn(torch):
    """The articles' CNN; typenet's ReferenceCnn (96,844 parameters)."""
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(64, 64, 3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(576, 70), nn.ReLU(), nn.Linear(70, 10))


def reference_mlp(torch):
    """The articles' MLP 784-70-30-10 with sigmoid hidden layers (57,390 parameters)."""
    nn = torch.nn
    return nn.Sequential(nn.Linear(784, 70), nn.Sigmoid(), nn.Linear(70, 30), nn.Sigmoid(), nn.Linear(30, 10))


def batchnorm_cnn(torch):
    """A CNN with BatchNorm2d and BatchNorm1d (running statistics and PyTorch's num_batches_tracked)."""
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 13 * 13, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
