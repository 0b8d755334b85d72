#!/usr/bin/env python3
"""The onnx package's checker on every file typenet exported:
onnx.checker.check_model(model, full_check=True) (structure, operator schemas
at the declared opset, and shape inference), then the graph's input and output
shapes as inferred. Exit status 77 (a ctest skip) when the onnx package is
missing (Debian: apt-get install python3-onnx)."""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="directory with manifest.json and the .onnx files")
    args = ap.parse_args()
    try:
        import onnx
        import onnx.checker
        import onnx.shape_inference
    except ImportError:
        print(f"onnx.checker: SKIPPED - the onnx package is not importable by {sys.executable}; "
              "install python3-onnx (Debian) or configure with -DTYPENET_PYTHON=<python with onnx>")
        return 77
    with open(os.path.join(args.dir, "manifest.json")) as f:
        manifest = json.load(f)
    for m in manifest["models"]:
        path = os.path.join(args.dir, m["onnx"])
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)  # raises on any problem
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        out = inferred.graph.output[0].type.tensor_type.shape.dim
        dims = [d.dim_param or d.dim_value for d in out]
        want = ["N"] + m["output_shape"][1:]
        if dims != want:
            print(f"onnx.checker: {m['onnx']}: output shape {dims}, expected {want}")
            return 1
        print(f"onnx.checker: {m['onnx']} passes check_model(full_check=True); opset "
              f"{model.opset_import[0].version}, IR {model.ir_version}, output {dims}")
    print(f"onnx.checker: onnx {onnx.__version__} accepts all {len(manifest['models'])} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
