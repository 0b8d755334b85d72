#!/usr/bin/python3
"""PyTorch side of typenet's comparison runner.

Trains one of the reference networks for a number of epochs exactly as
typenet's compare_typenet does: the same architecture and initialisation
(Glorot-uniform weights, zero biases: Keras' and typenet's defaults), RMSprop
with Keras' hyper-parameters (lr 1e-3, rho/alpha 0.9, eps 1e-7, no decay), the
same batch size and thread count, MNIST already in memory as tensors (no
DataLoader; on a GPU resident on the GPU), a fresh random permutation per
epoch. Prints one JSON line per epoch. The timed span is the training loop
of one epoch (permutation included), as typenet's fit times it.

--net fast --recipe fast --time-to 0.99 is examples/mnist_fast's recipe instead
(its BatchNorm CNN, Adam with eps 1e-7 under OneCycleLR stepped per batch,
learning rate only; BatchNorm momentum 0.1, eps 1e-5 as typenet's): the clock
runs from the first batch through each epoch's test evaluation, and training
stops at the first epoch whose test accuracy reaches the target; the JSON
line then carries time_to_seconds and reached_epoch.
"""
import argparse
import copy
import json
import os
import struct
import sys
import time

import torch
import torch.nn as nn

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def load_mnist(root):
    missing = [f for f in FILES if not os.path.isfile(os.path.join(root, f))]
    if missing:
        raise SystemExit(f"error: MNIST file(s) {', '.join(missing)} missing in '{root}'; run cmake/fetch_data.sh "
                         "(or pass --data DIR holding the four IDX files)")

    def images(name):
        return read_idx(os.path.join(root, name)).float().div_(255.0).unsqueeze(1)

    def labels(name):
        return read_idx(os.path.join(root, name)).long()

    return images(FILES[0]), labels(FILES[1]), images(FILES[2]), labels(FILES[3])


def network(name):
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
            nn.Linear(576, 70), nn.ReLU(), nn.Linear(70, 10))
    if name == "mlp_small":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 70), nn.Sigmoid(), nn.Linear(70, 30), nn.Sigmoid(),
                             nn.Linear(30, 10))
    if name == "mlp_wide":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
    if name == "fast":  # examples/mnist_fast.cpp's FastCnn
        return nn.Sequential(
            nn.Conv2d(1, 24, 3), nn.MaxPool2d(2), nn.BatchNorm2d(24), nn.ReLU(),
            nn.Conv2d(24, 48, 3), nn.MaxPool2d(2), nn.BatchNorm2d(48), nn.ReLU(),
            nn.Flatten(), nn.Linear(1200, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10))
    raise SystemExit(f"unknown network {name!r}: use cnn, mlp_small, mlp_wide or fast")


def keras_init(model):
    """Glorot-uniform weights and zero biases, as typenet (and Keras) start;
    PyTorch's default (Kaiming-uniform, uniform biases) would make the
    accuracy columns compare initialisations rather than libraries."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--data", default=os.environ.get("TYPENET_DATA", "data") + "/mnist")
    p.add_argument("--device", default="cpu")
    p.add_argument("--variant", default="eager", choices=["eager", "compile"])
    p.add_argument("--compile-mode", default=None,
                   help="torch.compile mode (default: reduce-overhead, i.e. CUDA graphs, on a GPU; default on the CPU)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed steps per batch shape before epoch 1, weights and optimizer then reset "
                        "(default: 0 for eager on the CPU, 3 on a GPU or with --variant compile)")
    p.add_argument("--recipe", default="reference", choices=["reference", "fast"],
                   help="reference: RMSprop as Keras (default); fast: Adam under a per-batch OneCycleLR peaking at --lr")
    p.add_argument("--time-to", type=float, default=None, help="stop at the first epoch whose test accuracy reaches "
                   "this, timing from the first batch through each epoch's evaluation")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    xtr, ytr, xte, yte = (t.to(dev) for t in load_mnist(args.data))
    model = network(args.net)
    keras_init(model)
    model = model.to(dev)
    step_model = model
    if args.variant == "compile":
        if not hasattr(torch, "compile"):
            print(json.dumps({"error": "torch.compile is not available in torch " + torch.__version__}))
            return 3
        mode = args.compile_mode or ("reduce-overhead" if dev.type == "cuda" else "default")
        step_model = torch.compile(model, mode=mode)

    n = xtr.shape[0]
    sched = None

    def make_optimizer():
        nonlocal sched
        if args.recipe == "fast":
            o = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-7)
            steps = args.epochs * ((n + args.batch - 1) // args.batch)
            sched = torch.optim.lr_scheduler.OneCycleLR(o, max_lr=args.lr, total_steps=steps, cycle_momentum=False)
            return o
        return torch.optim.RMSprop(model.parameters(), lr=args.lr, alpha=0.9, eps=1e-7)

    opt = make_optimizer()
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(step_model(x), y)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()

    # Warm-up outside the timed epoch: torch.compile's compilation (tens of
    # seconds), cuDNN's autotuning and CUDA graph capture happen on the first
    # steps of each batch shape (the full batch and the epoch's last, smaller
    # one); they are one-off costs, not training speed.
    warmup = args.warmup if args.warmup is not None else (3 if dev.type == "cuda" or args.variant == "compile" else 0)
    if warmup > 0:
        saved = copy.deepcopy(model.state_dict())
        for b in sorted({args.batch, n % args.batch or args.batch}):
            for _ in range(warmup):
                step(xtr[:b], ytr[:b])
        if dev.type == "cuda":
            torch.cuda.synchronize()
        model.load_state_dict(saved)  # copies in place: compiled graphs keep their parameter addresses
        opt = make_optimizer()

    start = None
    for epoch in range(1, args.epochs + 1):
        model.train()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        start = start or t0
        perm = torch.randperm(n, device=dev)
        for first in range(0, n, args.batch):
            idx = perm[first:first + args.batch]
            step(xtr[idx], ytr[idx])
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum())
                          for i in range(0, xte.shape[0], 1000))
        line = {"library": "pytorch", "version": torch.__version__, "net": args.net, "batch": args.batch,
                "epoch": epoch, "seconds": seconds, "test_accuracy": correct / xte.shape[0],
                "threads": torch.get_num_threads(), "device": str(dev), "variant": args.variant,
                "warmup_steps": warmup}
        if args.time_to is not None:
            line["time_to_seconds"] = time.perf_counter() - start
            line["reached_epoch"] = epoch if line["test_accuracy"] >= args.time_to else 0
        print(json.dumps(line), flush=True)
        if args.time_to is not None and line["reached_epoch"]:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
