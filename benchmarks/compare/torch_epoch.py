#!/usr/bin/python3
"""PyTorch side of typenet's comparison runner.

Trains one of the reference networks for a number of epochs exactly as
typenet's compare_typenet does: the same architecture, RMSprop with Keras'
hyper-parameters (lr 1e-3, rho/alpha 0.9, eps 1e-7), the same batch size and
thread count, MNIST already in memory as tensors (no DataLoader), a fresh
random permutation per epoch. Prints one JSON line per epoch.
"""
import argparse
import json
import os
import struct
import sys
import time

import torch
import torch.nn as nn


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def load_mnist(root):
    def images(name):
        return read_idx(os.path.join(root, name)).float().div_(255.0).unsqueeze(1)

    def labels(name):
        return read_idx(os.path.join(root, name)).long()

    return (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))


def network(name):
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
            nn.Linear(576, 70), nn.ReLU(), nn.Linear(70, 10)), False
    if name == "mlp_small":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 70), nn.Sigmoid(), nn.Linear(70, 30), nn.Sigmoid(),
                             nn.Linear(30, 10)), True
    if name == "mlp_wide":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)), True
    raise SystemExit(f"unknown network {name!r}: use cnn, mlp_small or mlp_wide")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--net", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--data", default=os.environ.get("TYPENET_DATA", "data") + "/mnist")
    p.add_argument("--device", default="cpu")
    p.add_argument("--variant", default="eager", choices=["eager", "compile"])
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    xtr, ytr, xte, yte = (t.to(dev) for t in load_mnist(args.data))
    model, flat = network(args.net)
    model = model.to(dev)
    step_model = model
    if args.variant == "compile":
        if not hasattr(torch, "compile"):
            print(json.dumps({"error": "torch.compile is not available in torch " + torch.__version__}))
            return 3
        step_model = torch.compile(model)
    opt = torch.optim.RMSprop(model.parameters(), lr=args.lr, alpha=0.9, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    n = xtr.shape[0]
    for epoch in range(1, args.epochs + 1):
        model.train()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=dev)
        for first in range(0, n, args.batch):
            idx = perm[first:first + args.batch]
            x, y = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(step_model(x), y)
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum())
                          for i in range(0, xte.shape[0], 1000))
        print(json.dumps({"library": "pytorch", "version": torch.__version__, "net": args.net, "batch": args.batch,
                          "epoch": epoch, "seconds": seconds, "test_accuracy": correct / xte.shape[0],
                          "threads": args.threads, "device": str(dev), "variant": args.variant}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
