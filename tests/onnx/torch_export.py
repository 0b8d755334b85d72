#!/usr/bin/env python3
"""The PyTorch side of the ONNX tests: torch.onnx.export of the nn.Sequential
twins of the networks in onnx_runtimes.cpp, as PyTorch really writes them.

Writes <out>/<name>.onnx (torch.onnx.export with its defaults: opset 14; in
evaluation mode PyTorch 1.13 folds every BatchNorm2d into the Conv before it,
even with do_constant_folding=False, and keeps BatchNorm1d after Linear) and
<out>/reference.safetensors with the input images and every network's
outputs on them. The images are the first 8 MNIST test images when the data is
present (TYPENET_DATA or --data), else seeded synthetic ones. onnx_runtimes
(OnnxFromTorch) then loads each file with load_onnx and compares.

Exit status 77 (a ctest skip) when PyTorch is not installed.
"""
import argparse
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "interop"))
from interop_common import import_torch_or_skip, reference_cnn, reference_mlp, write_safetensors  # noqa: E402
from make_reference import mnist_images, synthetic_images  # noqa: E402


def networks(torch):
    """name -> nn.Sequential, each the twin of the typenet network of the same name."""
    nn = torch.nn
    return {
        "reference_cnn": reference_cnn(torch),
        "mlp_784_70_30_10": reference_mlp(torch),
        "mlp_784_512_10": nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)),
        # typenet's Same at stride 2 pads unevenly (the odd row / column bottom / right): ZeroPad2d + Conv2d.
        "batchnorm_same_avgpool": nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ELU(), nn.Dropout(0.25), nn.AvgPool2d(2),
            nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(8, 16, 3, stride=2), nn.BatchNorm2d(16), nn.Tanh(), nn.MaxPool2d(3, 2),
            nn.Flatten(), nn.Linear(16 * 3 * 3, 32), nn.BatchNorm1d(32), nn.SELU(), nn.Dropout(0.5), nn.Linear(32, 10)),
        # Conv2DRect<6, 5x3, stride 2x1, Same>: pads top 1, bottom 2, left 1, right 1.
        "all_other_layers": nn.Sequential(
            nn.ZeroPad2d((1, 1, 1, 2)), nn.Conv2d(1, 6, (5, 3), stride=(2, 1)), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            nn.Flatten(), nn.Linear(6, 10), nn.Sigmoid(), nn.Identity(), nn.Linear(10, 10), nn.Softmax(dim=1)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="directory for the generated files")
    ap.add_argument("--data", default="", help="data root holding mnist/ (TYPENET_DATA overrides it)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):  # a stale file from an earlier run must never pass (or skip) the test
        if name.endswith(".onnx") or name.endswith(".safetensors"):
            os.remove(os.path.join(args.out, name))
    torch = import_torch_or_skip()

    root = os.environ.get("TYPENET_DATA") or args.data
    data = mnist_images(torch, os.path.join(root, "mnist")) if root else None
    source = f"real MNIST test images 0-7 from {root}/mnist" if data is not None else \
        "synthetic images (no MNIST found; run cmake/fetch_data.sh)"
    images = (data if data is not None else synthetic_images(torch))[0]

    torch.manual_seed(2024)
    nets = networks(torch)
    with torch.no_grad():  # non-trivial BatchNorm statistics and affine parameters
        for net in nets.values():
            for m in net.modules():
                if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
            net.eval()

    reference = {"images": images}
    exports = [(name, net, name) for name, net in nets.items()]
    for name, net, file in exports:
        x = images if name not in ("mlp_784_70_30_10", "mlp_784_512_10") else images.reshape(-1, 784)
        with torch.no_grad():
            reference[file] = net(x)
        torch.onnx.export(net, x[:1], os.path.join(args.out, file + ".onnx"), input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    write_safetensors(os.path.join(args.out, "reference.safetensors"), reference,
                      {"source": "tests/onnx/torch_export.py", "torch": torch.__version__, "images": source})
    print(f"onnx: torch.onnx.export (PyTorch {torch.__version__}) wrote {len(exports)} models and their outputs on "
          f"{images.shape[0]} {source} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
