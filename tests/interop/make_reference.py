#!/usr/bin/env python3
"""Step 1 of the interop test: PyTorch writes weights and expected logits.

Builds the reference CNN, the 784-70-30-10 sigmoid MLP and a small BatchNorm
CNN in PyTorch with seeded weights, saves their state_dicts as safetensors
(the MLP also as F16 and F64), and saves reference.safetensors with 8 input
images and each network's logits on them. The images are the first 8 of the
real MNIST test set (scaled /255) when --mnist holds t10k-images-idx3-ubyte,
else seeded synthetic ones, so the test also runs where data/ is absent.
test_interop (C++) then loads all of it into typenet and compares logits.

Exit status 77 (a ctest skip) when PyTorch is not installed.
"""
import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (batchnorm_cnn, import_torch_or_skip, reference_cnn,  # noqa: E402
                            reference_mlp, write_safetensors)

IMAGES = 8


def mnist_images(torch, directory):
    """The first IMAGES test images and labels, or None when the files are absent."""
    images = os.path.join(directory, "t10k-images-idx3-ubyte")
    labels = os.path.join(directory, "t10k-labels-idx1-ubyte")
    if not (os.path.isfile(images) and os.path.isfile(labels)):
        return None
    with open(images, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803 and rows == 28 and cols == 28 and n >= IMAGES, f"{images} is not an MNIST image file"
        pixels = bytearray(f.read(IMAGES * 784))
    with open(labels, "rb") as f:
        magic, n = struct.unpack(">II", f.read(8))
        assert magic == 0x801 and n >= IMAGES, f"{labels} is not an MNIST label file"
        y = bytearray(f.read(IMAGES))
    x = torch.frombuffer(pixels, dtype=torch.uint8).reshape(IMAGES, 1, 28, 28).float() / 255.0
    return x, torch.frombuffer(y, dtype=torch.uint8).long()


def synthetic_images(torch):
    g = torch.Generator().manual_seed(7)
    # Blurred random blobs in [0, 1]: MNIST-like ranges without the data set.
    x = torch.nn.functional.avg_pool2d(torch.rand(IMAGES, 1, 34, 34, generator=g), 7, stride=1)
    x = (x - x.amin()) / (x.amax() - x.amin())
    return x.contiguous(), torch.arange(IMAGES) % 10


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="directory for the generated files")
    ap.add_argument("--mnist", default="", help="directory with t10k-images-idx3-ubyte (optional)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):  # a stale file from an earlier run must never pass (or skip) the test
        if name.endswith(".safetensors"):
            os.remove(os.path.join(args.out, name))
    torch = import_torch_or_skip()

    data = mnist_images(torch, args.mnist) if args.mnist else None
    source = "MNIST test images 0-7" if data is not None else "synthetic images (MNIST not found)"
    images, labels = data if data is not None else synthetic_images(torch)

    torch.manual_seed(1234)
    cnn, mlp, bn = reference_cnn(torch), reference_mlp(torch), batchnorm_cnn(torch)
    with torch.no_grad():  # non-trivial running statistics and affine parameters
        for m in bn.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.num_batches_tracked.fill_(123)
    for m in (cnn, mlp, bn):
        m.eval()

    flat = images.reshape(IMAGES, 784)
    meta = {"source": "tests/interop/make_reference.py", "torch": torch.__version__}
    with torch.no_grad():
        mlp_half_state = {k: v.half() for k, v in mlp.state_dict().items()}
        mlp_half = reference_mlp(torch)
        mlp_half.load_state_dict({k: v.float() for k, v in mlp_half_state.items()})
        mlp_double = reference_mlp(torch).double()
        mlp_double.load_state_dict({k: v.double() for k, v in mlp.state_dict().items()})
        reference = {
            "images": images,
            "labels": labels,
            "cnn_logits": cnn(images),
            "mlp_logits": mlp(flat),
            "mlp_f16_logits": mlp_half(flat),
            "mlp_f64_logits": mlp_double(flat.double()),
            "bn_logits": bn(images),
        }
    write_safetensors(os.path.join(args.out, "cnn.safetensors"), cnn.state_dict(), meta)
    write_safetensors(os.path.join(args.out, "mlp.safetensors"), mlp.state_dict(), meta)
    write_safetensors(os.path.join(args.out, "mlp_f16.safetensors"), mlp_half_state, meta)
    write_safetensors(os.path.join(args.out, "mlp_f64.safetensors"), mlp_double.state_dict(), meta)
    write_safetensors(os.path.join(args.out, "bn.safetensors"), bn.state_dict(), meta)
    write_safetensors(os.path.join(args.out, "reference.safetensors"), reference, {**meta, "images": source})
    print(f"interop: wrote PyTorch {torch.__version__} reference weights and logits for {IMAGES} {source} "
          f"to {args.out}")
    print("interop: cnn logits of image 0:", [round(v, 5) for v in reference["cnn_logits"][0].tolist()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
