#!/usr/bin/env python3
"""Step 3 of the interop test: PyTorch checks typenet's files.

test_interop (C++) trained typenet models and saved them (typenet_cnn,
typenet_mlp, typenet_bn .safetensors) with their logits on the reference
images (typenet_logits.safetensors). This script loads each file into the
equivalent nn.Sequential with load_state_dict(strict=True) - so every name and
shape must be PyTorch's - and requires PyTorch's logits to match typenet's
within 1e-4.

Exit status 77 (a ctest skip) when PyTorch is not installed.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (SKIP, batchnorm_cnn, import_torch_or_skip, read_safetensors,  # noqa: E402
                            reference_cnn, reference_mlp)

TOLERANCE = 1e-4


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="directory of make_reference.py's and test_interop's files")
    args = ap.parse_args()
    torch = import_torch_or_skip()
    logits_file = os.path.join(args.dir, "typenet_logits.safetensors")
    if not os.path.isfile(logits_file):
        print(f"interop: SKIPPED - {logits_file} is missing; test_interop did not export (was it skipped?)")
        return SKIP

    reference, _ = read_safetensors(os.path.join(args.dir, "reference.safetensors"))
    expected, _ = read_safetensors(logits_file)
    images = reference["images"]
    failures = 0
    for name, build, x in (("cnn", reference_cnn, images), ("mlp", reference_mlp, images.reshape(-1, 784)),
                           ("bn", batchnorm_cnn, images)):
        state, meta = read_safetensors(os.path.join(args.dir, f"typenet_{name}.safetensors"))
        model = build(torch)
        model.load_state_dict(state, strict=True)  # raises on any missing / unexpected / misshapen tensor
        model.eval()
        with torch.no_grad():
            got = model(x)
        diff = (got - expected[f"{name}_logits"]).abs().max().item()
        ok = diff <= TOLERANCE
        failures += not ok
        print(f"interop: typenet {name} ({meta.get('typenet.network', '?')}) in PyTorch: "
              f"max |logit difference| {diff:.3g} {'<=' if ok else '>'} {TOLERANCE} {'ok' if ok else 'FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
