#!/usr/bin/python3
"""Side-by-side training speed of typenet, PyTorch and libtorch on the same machine.

For each configuration (reference CNN at batch 64 and 256, MLP 784-70-30-10 at
batch 500, MLP 784-512-10 at batch 128) it trains one epoch of real MNIST with
typenet (compare_typenet) and with PyTorch (torch_epoch.py), alternating the
two, several times each, every run a fresh process with the same settings:
architecture, initialisation, RMSprop (lr 1e-3, rho 0.9, eps 1e-7), batch size,
thread count, data resident in memory. When the build directory holds
compare_libtorch (benchmarks/compare/libtorch_epoch.cpp: the same program in
PyTorch's C++ frontend), libtorch runs alongside, with PyTorch's thread
environment, once as is and once under each PyTorch variant's variables (and
under OMP_WAIT_POLICY=passive in any case). It prints a Markdown table (seconds
per epoch, median and min; images/s; test accuracy; the time ratio
typenet/that library) and writes it, with the machine and versions, to
benchmarks/results/.

  benchmarks/compare/run_compare.py                 # CPU, 2 threads, 3 repetitions
  benchmarks/compare/run_compare.py --quick         # MLPs only, 2 repetitions: a smoke run
  benchmarks/compare/run_compare.py --device cuda   # GPU: typenet on CUDA, PyTorch eager and compiled
  benchmarks/compare/run_compare.py --time-to 0.99  # wall time to 99% test accuracy, mnist_fast's recipe
  benchmarks/compare/run_compare.py --load          # each run quiet and beside a one-core busy loop

--time-to X instead times examples/mnist_fast (a BatchNorm CNN, Adam under a
per-batch one-cycle, batch 64, one epoch) against the same network, optimizer,
schedule and batch in PyTorch (torch_epoch.py --net fast --recipe fast): the
wall time from the first batch to the end of the first epoch whose test
accuracy reaches X, evaluation included; median of the repetitions.

--load runs every epoch twice, quiet and beside a competing one-core load (a
`sh -c 'while :; do :; done'` process), the order alternating, and reports
loaded / quiet per library; also the cores each process used (its user + sys
CPU time over its wall time) and, sampled every 10 ms during the loaded runs,
how often the busy loop had its CPU to itself, i.e. the scheduler had put all
of the library's runnable threads on the other CPUs. With T threads on T
cores a fair scheduler gives the library T^2/(T + 1) cores (4/3 for 2), so
an epoch that scales perfectly takes (T + 1)/T of its quiet time: 1.5x on 2.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TRAIN_SIZE = 60000

# (label, net, batch)
CONFIGS = [("CNN, batch 64", "cnn", 64), ("CNN, batch 256", "cnn", 256),
           ("MLP 784-70-30-10, batch 500", "mlp_small", 500), ("MLP 784-512-10, batch 128", "mlp_wide", 128)]


def fail(msg):
    sys.exit("run_compare: error: " + msg)


def run_json(cmd, env):
    """Runs cmd; returns its JSON lines (dicts). Fails with its stderr on a non-zero exit."""
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"command failed (exit {p.returncode}): {shlex.join(cmd)}\n{p.stderr.strip()}\n{p.stdout.strip()}")
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        fail(f"no JSON output from: {shlex.join(cmd)}\n{p.stderr.strip()}")
    return lines


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_identity():
    """'GenuineIntel family 6 model 207, flags avx512f avx2 fma ...': what decides the kernels."""
    fields, wanted = {}, ("avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "avx2", "fma")
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k = k.strip()
                if k in ("vendor_id", "cpu family", "model", "flags") and k not in fields:
                    fields[k] = v.strip()
    except OSError:
        return "unknown"
    flags = [x for x in wanted if x in fields.get("flags", "").split()]
    return (f"{fields.get('vendor_id', '?')} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}, "
            f"flags {' '.join(flags) or 'none of ' + ' '.join(wanted)}")


def slug(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def load_average():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="threads for every library (default 2)")
    p.add_argument("--reps", type=int, default=None, help="runs per library and configuration (default 3; --quick 2)")
    p.add_argument("--quick", action="store_true", help="MLP configurations only, 2 repetitions: checks the "
                   "pipeline, measures nothing (the results file gets a -smoke suffix)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--only", default="", help="comma-separated nets to run (cnn, mlp_small, mlp_wide)")
    p.add_argument("--data", default=os.path.join(os.environ.get("TYPENET_DATA") or os.path.join(ROOT, "data"), "mnist"))
    p.add_argument("--build", default=os.path.join(ROOT, "build"),
                   help="typenet build directory, holding benchmarks/compare_typenet and, optionally, "
                        "benchmarks/compare_libtorch (default build/)")
    p.add_argument("--python", default="/usr/bin/python3", help="Python with PyTorch (default /usr/bin/python3)")
    p.add_argument("--torch-env", action="append", default=[], metavar="'NAME=VALUE ...'",
                   help="adds a PyTorch eager variant (and a libtorch one) run with these variables as well "
                        "(repeatable), e.g. "
                        "--torch-env OMP_WAIT_POLICY=passive")
    p.add_argument("--machine", default=None, help="machine name for the results file (default: from the CPU/GPU)")
    p.add_argument("--out", default=None, help="results file (default benchmarks/results/<date>-<machine>.md)")
    p.add_argument("--load", action="store_true",
                   help="run each epoch quiet and beside a one-core busy loop; report loaded / quiet "
                        "(the results file gets a -load suffix)")
    p.add_argument("--libs", default="typenet,pytorch,libtorch",
                   help="comma-separated libraries to run: typenet, pytorch, libtorch (default all; typenet is "
                        "needed for the ratio column, except with --load; --time-to always runs typenet and PyTorch)")
    p.add_argument("--time-to", type=float, default=None, metavar="X",
                   help="time mnist_fast's recipe to test accuracy X in both libraries (e.g. 0.99)")
    a = p.parse_args()
    if a.reps is None:
        a.reps = 2 if a.quick else 3
    if a.threads < 1 or a.reps < 1:
        fail("--threads and --reps must be at least 1")
    a.libs = set(a.libs.split(","))
    if not a.libs or not a.libs <= {"typenet", "pytorch", "libtorch"}:
        fail(f"--libs takes typenet, pytorch and/or libtorch, comma-separated; got '{','.join(sorted(a.libs))}'")
    if "typenet" not in a.libs and not a.load and a.time_to is None:
        fail("--libs must include typenet: the table's ratios are typenet's time over each library's")
    if a.load and (a.device != "cpu" or a.time_to is not None):
        fail("--load measures CPU epochs: it does not combine with --device cuda or --time-to")
    return a


def check_inputs(a):
    missing = [f for f in MNIST_FILES if not os.path.isfile(os.path.join(a.data, f))]
    if missing:
        fail(f"MNIST is missing in '{a.data}' ({', '.join(missing)}); run cmake/fetch_data.sh from the repository "
             "root (or set TYPENET_DATA / pass --data DIR holding the four IDX files)")
    exe = os.path.join(a.build, "benchmarks", "compare_typenet")
    if not os.access(exe, os.X_OK):
        fail(f"'{exe}' not found; build it first: cmake -S . -B {a.build} && cmake --build {a.build} -j2 "
             "--target compare_typenet")
    if not os.access(a.python, os.X_OK):
        fail(f"no Python at '{a.python}'; pass --python with the interpreter that has PyTorch")
    return exe


def libtorch_exe(a):
    """compare_libtorch in the build directory, or None with the reason the libtorch row is skipped."""
    if "libtorch" not in a.libs:
        return None, "libtorch C++ rows left out (--libs)"
    exe = os.path.join(a.build, "benchmarks", "compare_libtorch")
    if os.access(exe, os.X_OK):
        return exe, None
    return None, (f"libtorch C++ row skipped: '{exe}' not found; build it with cmake --build {a.build} "
                  "--target compare_libtorch (configure finds libtorch when it is installed, Debian: libtorch-dev)")


def environments(threads):
    """The thread settings each library gets, as (typenet's, PyTorch's) variable dicts."""
    n = str(threads)
    # Debian's PyTorch runs its GEMMs on OpenBLAS's own thread pool (libblas.so.3 is OpenBLAS there):
    # its size is part of the thread budget too.
    return {"TYPENET_THREADS": n}, {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def parse_env(spec):
    """'K=V K2=V2' -> dict; fails on a malformed item."""
    out = {}
    for item in spec.split():
        k, eq, v = item.partition("=")
        if not eq or not k:
            fail(f"--torch-env takes 'NAME=VALUE ...', got '{spec}'")
        out[k] = v
    return out


def torch_info(python, env):
    """PyTorch's version, abilities, and the BLAS / OpenMP libraries it actually loaded."""
    code = ("import json, os, re, torch; cfg = torch.__config__.show(); "
            "keys = ('BLAS_INFO', 'USE_MKLDNN', 'USE_OPENMP'); "
            "build = [m for k in keys for m in re.findall(k + '=[^,]*', cfg)]; "
            "libs = sorted({os.path.realpath(l.split()[-1]) for l in open('/proc/self/maps') "
            "if re.search(r'(blas|gomp|iomp|dnnl|mkl)[^/]*\\.so', l)}); "
            "print(json.dumps({'version': torch.__version__, 'compile': hasattr(torch, 'compile'), "
            "'cuda': torch.cuda.is_available(), 'build': ', '.join(build), 'libs': libs, "
            "'gpu': torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''}))")
    return run_json([python, "-c", code], env)[0]


def runners(a, exe, tinfo, tn_info, lt_exe, lt_info, notes):
    """The (name, command, extra environment) triples compared per configuration; the first is typenet.
    Appends to notes why a row is left out."""
    def typenet(net, batch):
        return [exe, "--net", net, "--batch", str(batch), "--epochs", "1", "--threads", str(a.threads),
                "--data", a.data, "--device", a.device]

    def torch(variant):
        return lambda net, batch: [a.python, os.path.join(HERE, "torch_epoch.py"), "--net", net, "--batch",
                                   str(batch), "--epochs", "1", "--threads", str(a.threads), "--data", a.data,
                                   "--device", a.device, "--variant", variant]

    if a.device == "cuda":
        if not tn_info.get("cuda"):
            fail("compare_typenet was built without the CUDA backend; on the GPU machine configure with "
                 "-DTYPENET_CUDA=ON, rebuild compare_typenet, and run again")
        if not tinfo.get("cuda"):
            fail(f"PyTorch at '{a.python}' sees no GPU (torch {tinfo['version']}); use --python with a CUDA build")
    tn_env, torch_env = environments(a.threads)
    out = [("typenet", typenet, tn_env), ("PyTorch eager", torch("eager"), torch_env)]
    # Each --torch-env adds a PyTorch variant with those variables on top (e.g. OMP_WAIT_POLICY=passive).
    for spec in a.torch_env:
        out.append((f"PyTorch eager [{spec}]", torch("eager"), dict(torch_env, **parse_env(spec))))
    if a.device == "cuda":
        if tinfo.get("compile"):
            out.append(("PyTorch torch.compile", torch("compile"), torch_env))
        else:
            notes.append(f"torch {tinfo['version']} has no torch.compile; the compiled variant is skipped")
    # libtorch (PyTorch's C++ frontend): PyTorch's environment, as is and under each --torch-env variant,
    # and under OMP_WAIT_POLICY=passive even when no variant sets it (PyTorch's best on a small machine).
    if lt_exe and a.device == "cuda" and not lt_info.get("cuda"):
        notes.append(f"libtorch C++ row skipped: '{lt_exe}' links a libtorch without CUDA")
    elif lt_exe:
        def libtorch(net, batch):
            return [lt_exe, "--net", net, "--batch", str(batch), "--epochs", "1", "--threads", str(a.threads),
                    "--data", a.data, "--device", a.device]

        name = "libtorch C++ (" + ".".join(str(lt_info.get("version", "?")).split(".")[:2]) + ")"
        out.append((name, libtorch, torch_env))
        specs = list(a.torch_env)
        if not any(parse_env(spec).get("OMP_WAIT_POLICY", "").lower() == "passive" for spec in specs):
            specs.append("OMP_WAIT_POLICY=passive")
        for spec in specs:
            out.append((f"{name} [{spec}]", libtorch, dict(torch_env, **parse_env(spec))))
    family = {"typenet": "typenet", "PyTorch": "pytorch", "libtorch": "libtorch"}
    return [lib for lib in out if family[lib[0].split()[0]] in a.libs]


def measure(a, libs):
    """results[(net, batch)][lib] = list of run dicts, runs interleaved per configuration."""
    results = {}
    for label, net, batch in selected_configs(a):
        runs = results.setdefault((label, net, batch), {name: [] for name, _, _ in libs})
        for rep in range(a.reps):
            # Alternate which library goes first, so a drift in machine load hits both alike.
            order = libs if rep % 2 == 0 else list(reversed(libs))
            for name, cmd, env in order:
                r = run_json(cmd(net, batch), dict(os.environ, **env))[-1]
                runs[name].append(r)
                print(f"  {label:30s} {name:22s} run {rep + 1}/{a.reps}: {r['seconds']:.3f} s, "
                      f"test accuracy {100 * r['test_accuracy']:.2f}%", flush=True)
    return results


def stat_fields(path):
    """The fields of a /proc/.../stat file after the command name (which may hold spaces); None once gone."""
    try:
        with open(path) as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_of(fields):
    return int(fields[36])  # stat field 39, 'processor'


def runnable_cpus(pid):
    """The CPUs that process pid's runnable threads are on; empty once the process is gone."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return set()
    stats = (stat_fields(f"/proc/{pid}/task/{tid}/stat") for tid in tids)
    return {cpu_of(f) for f in stats if f and f[0] == "R"}


def run_timed(cmd, env, loaded):
    """Runs cmd, quiet or beside a one-core busy loop. Returns its last JSON line with 'cores' (the process's
    user + sys CPU seconds over its wall seconds) and, when loaded, 'alone' (the share of 10 ms samples in which
    none of cmd's runnable threads was on the busy loop's CPU)."""
    busy = subprocess.Popen(["sh", "-c", "while :; do :; done"]) if loaded else None
    p = None
    try:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            start = time.monotonic()
            p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
            alone = samples = 0
            while True:
                pid, status, usage = os.wait4(p.pid, os.WNOHANG)  # wait4: the child's own CPU time
                if pid:
                    break
                if busy:
                    where, busy_stat = runnable_cpus(p.pid), stat_fields(f"/proc/{busy.pid}/stat")
                    if where and busy_stat:
                        samples += 1
                        alone += cpu_of(busy_stat) not in where
                time.sleep(0.01)
            wall = time.monotonic() - start
            p.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0), err.seek(0)
            stdout, stderr = out.read(), err.read()
    finally:
        if p is not None and p.returncode is None:  # interrupted before the child was reaped
            p.kill()
            p.wait()
        if busy:
            busy.kill()
            busy.wait()
    if p.returncode != 0:
        fail(f"command failed (exit {p.returncode}): {shlex.join(cmd)}\n{stderr.strip()}\n{stdout.strip()}")
    lines = [json.loads(l) for l in stdout.splitlines() if l.startswith("{")]
    if not lines:
        fail(f"no JSON output from: {shlex.join(cmd)}\n{stderr.strip()}")
    r = dict(lines[-1], cores=(usage.ru_utime + usage.ru_stime) / wall)
    if loaded:
        r["alone"] = alone / samples if samples else float("nan")
    return r


def selected_configs(a):
    configs = [c for c in CONFIGS if (not a.quick or c[1] != "cnn") and (not a.only or c[1] in a.only.split(","))]
    if not configs:
        fail(f"--only '{a.only}' selects no configuration (nets: cnn, mlp_small, mlp_wide)")
    return configs


def measure_load(a, libs):
    """--load: results[(label, net, batch)][lib] = {'quiet': [runs], 'loaded': [runs]}, interleaved."""
    results = {}
    for label, net, batch in selected_configs(a):
        runs = results.setdefault((label, net, batch), {name: {"quiet": [], "loaded": []} for name, _, _ in libs})
        for rep in range(a.reps):
            order = libs if rep % 2 == 0 else list(reversed(libs))
            for name, cmd, env in order:
                for loaded in ((False, True) if rep % 2 == 0 else (True, False)):
                    r = run_timed(cmd(net, batch), dict(os.environ, **env), loaded)
                    runs[name]["loaded" if loaded else "quiet"].append(r)
                    print(f"  {label:30s} {name:22s} run {rep + 1}/{a.reps} {'loaded' if loaded else 'quiet '}: "
                          f"{r['seconds']:.3f} s, {r['cores']:.2f} cores, test accuracy "
                          f"{100 * r['test_accuracy']:.2f}%", flush=True)
    return results


def load_table(results, libs):
    rows = ["| configuration | library | quiet s/epoch (median) | loaded s/epoch (median) | loaded / quiet "
            "| cores used, quiet / loaded (median) | busy loop alone on its CPU (loaded samples) |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for (label, _, _), runs in results.items():
        for name, _, _ in libs:
            q, l = runs[name]["quiet"], runs[name]["loaded"]
            mq, ml = statistics.median(r["seconds"] for r in q), statistics.median(r["seconds"] for r in l)
            cq, cl = statistics.median(r["cores"] for r in q), statistics.median(r["cores"] for r in l)
            alone = statistics.median(r["alone"] for r in l)
            rows.append(f"| {label} | {name} | {mq:.3f} | {ml:.3f} | **{ml / mq:.2f}** | {cq:.2f} / {cl:.2f} "
                        f"| {100 * alone:.0f}% |")
    return "\n".join(rows)


def load_runs(results):
    out = ["", "Runs (seconds per epoch, in run order, quiet / loaded):", ""]
    for (label, _, _), runs in results.items():
        for name, r in runs.items():
            out.append(f"- {label}, {name}: " + ", ".join(f"{q['seconds']:.3f} / {l['seconds']:.3f}"
                                                        for q, l in zip(r["quiet"], r["loaded"])))
    return "\n".join(out) + "\n"


def table(results, libs):
    head = ("| configuration | library | s/epoch (median) | s/epoch (min) | images/s | test accuracy (median) "
            "| time ratio typenet/this |\n|---|---|---:|---:|---:|---:|---:|")
    rows = [head]
    for (label, net, batch), runs in results.items():
        med = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
        for name, _, _ in libs:
            rs = runs[name]
            acc = statistics.median(r["test_accuracy"] for r in rs)
            ratio = "—" if name == "typenet" else f"{med['typenet'] / med[name]:.2f}"
            rows.append(f"| {label} | {name} | {med[name]:.3f} | {min(r['seconds'] for r in rs):.3f} "
                        f"| {TRAIN_SIZE / med[name]:,.0f} | {100 * acc:.2f}% | {ratio} |")
    return "\n".join(rows)


def header(a, tinfo, tn_info, lt_info, notes, libs, load_before, load_after):
    date = datetime.date.today().isoformat()
    cpu = cpu_model()
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    lines = [f"# typenet vs PyTorch, {a.device.upper()}, {date}", ""]
    if a.quick:
        lines += ["**Smoke run (--quick): checks that the pipeline works; the figures are not measurements.**", ""]
    lines += [f"- machine: {cpu}, {cores} cores ({usable} usable), {platform.platform()}",
              f"- CPU: {cpu_identity()}",
              f"- load average (1/5/15 min) before: {load_before}; after: {load_after} "
              "(figures are only meaningful when nothing else runs)"]
    if a.device == "cuda":
        lines.append(f"- GPU: {tinfo.get('gpu') or 'unknown'}" + (f"; typenet sees {tn_info['gpu']}" if tn_info.get("gpu") else ""))
    lines += [f"- threads: {a.threads} for all (typenet: TYPENET_THREADS and --threads; PyTorch and libtorch: "
              "torch.set_num_threads, OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS)",
              f"- repetitions: {a.reps} per library and configuration, 1 epoch each, each a fresh process, "
              "the libraries alternating",
              f"- typenet {tn_info.get('version')}, {tn_info.get('compiler')}, build type {tn_info.get('build_type')}, "
              f"BLAS {tn_info.get('blas')} ({tn_info.get('blas_config')}; kernels: {tn_info.get('blas_corename')}; "
              f"OPENBLAS_CORETYPE={tn_info.get('OPENBLAS_CORETYPE') or 'unset'}); {tn_info.get('cpu_backend')} "
              f"(typenet's kernel path), float GEMM by {tn_info.get('sgemm')}",
              f"- PyTorch {tinfo['version']} ({a.python}; {tinfo.get('build')}; loads "
              f"{', '.join(tinfo.get('libs') or ['?'])})"]
    if lt_info:
        lines.append(f"- libtorch C++ {lt_info.get('version')} (compare_libtorch, {lt_info.get('compiler')}; "
                     "PyTorch's thread variables and torch::set_num_threads; the C++ frontend over the same "
                     "libtorch, without Python)")
    lines += [f"- note: {n}" for n in notes]
    lines += ["- same settings: architecture, Glorot-uniform init with zero biases, RMSprop lr 1e-3 rho 0.9 "
              "eps 1e-7 no decay, mean softmax cross-entropy, shuffled each epoch, MNIST resident as tensors "
              "(no DataLoader); timed: the epoch's training loop (not loading, not evaluation)",
              "- ratio: " + ("loaded / quiet: a library's median loaded seconds over its median quiet seconds"
                             if a.load else
                             "typenet's median seconds / that library's median seconds (below 1: typenet is faster)"),
              "", "Commands (one run each; `NET`/`BATCH` per configuration):", "", "```",
              f"{shlex.join(sys.argv)}"]
    for name, cmd, env in libs:
        prefix = " ".join(f"{k}={v}" for k, v in env.items())
        lines.append(prefix + " " + shlex.join(cmd("NET", "BATCH")).replace(ROOT + "/", ""))
    lines += ["```", "", ""]
    return "\n".join(lines)


def raw_runs(results):
    out = ["", "Runs (seconds per epoch, in run order):", ""]
    for (label, _, _), runs in results.items():
        for name, rs in runs.items():
            out.append(f"- {label}, {name}: " + ", ".join(f"{r['seconds']:.3f}" for r in rs))
    return "\n".join(out) + "\n"


def time_to(a):
    """--time-to: mnist_fast against the same recipe in PyTorch; writes <date>-<machine>-time-to.md."""
    exe = os.path.join(a.build, "examples", "mnist_fast")
    if not os.access(exe, os.X_OK):
        fail(f"'{exe}' not found; build it first: cmake --build {a.build} -j2 --target mnist_fast")
    if a.device != "cpu":
        fail("--time-to runs on the CPU only for now (mnist_fast --device cuda runs the recipe on a GPU by hand)")
    tn_env, torch_env = environments(a.threads)
    target = a.time_to
    tn_cmd = [exe, "--threads", str(a.threads), "--data", os.path.dirname(os.path.abspath(a.data)),
              "--target", str(target)]
    torch_cmd = [a.python, os.path.join(HERE, "torch_epoch.py"), "--net", "fast", "--recipe", "fast", "--batch", "64",
                 "--epochs", "1", "--lr", "0.01", "--threads", str(a.threads), "--data", a.data,
                 "--time-to", str(target)]
    libs = [("typenet", tn_cmd, tn_env), ("PyTorch eager", torch_cmd, torch_env)]
    libs += [(f"PyTorch eager [{spec}]", torch_cmd, dict(torch_env, **parse_env(spec))) for spec in a.torch_env]

    def run_typenet(cmd, env):
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            fail(f"command failed (exit {p.returncode}): {shlex.join(cmd)}\n{p.stderr.strip()}")
        m = re.search(r"reached \S+ test accuracy after (\d+) epochs? in ([0-9.]+) s", p.stdout)
        acc = re.search(r"final test accuracy ([0-9.]+)%", p.stdout)
        return {"time_to_seconds": float(m.group(2)) if m else None, "reached_epoch": int(m.group(1)) if m else 0,
                "test_accuracy": float(acc.group(1)) / 100 if acc else float("nan")}

    load_before = load_average()
    print(f"run_compare --time-to {target}: {a.threads} threads, {a.reps} repetitions; load average {load_before}")
    runs = {name: [] for name, _, _ in libs}
    for rep in range(a.reps):
        for name, cmd, env in (libs if rep % 2 == 0 else list(reversed(libs))):
            full_env = dict(os.environ, **env)
            r = run_typenet(cmd, full_env) if name == "typenet" else run_json(cmd, full_env)[-1]
            runs[name].append(r)
            t = r["time_to_seconds"] if r["reached_epoch"] else None
            print(f"  {name:40s} run {rep + 1}/{a.reps}: " + (f"{t:.2f} s" if t else "target not reached") +
                  f", test accuracy {100 * r['test_accuracy']:.2f}%", flush=True)

    def med(name):
        ts = [r["time_to_seconds"] for r in runs[name] if r["reached_epoch"]]
        return statistics.median(ts) if len(ts) == len(runs[name]) else None  # a miss makes the median undefined

    rows = [f"| library | time to {100 * target:g}% (median) | min | reached / runs | test accuracy (median) "
            "| time ratio typenet/this |", "|---|---:|---:|---:|---:|---:|"]
    for name, _, _ in libs:
        rs, m = runs[name], med(name)
        ts = [r["time_to_seconds"] for r in rs if r["reached_epoch"]]
        ratio = "—" if name == "typenet" else (f"{med('typenet') / m:.2f}" if m and med("typenet") else "n/a")
        rows.append(f"| {name} | {f'{m:.2f} s' if m else 'not every run'} | {f'{min(ts):.2f} s' if ts else '—'} "
                    f"| {len(ts)} / {len(rs)} | {100 * statistics.median(r['test_accuracy'] for r in rs):.2f}% "
                    f"| {ratio} |")
    tinfo = torch_info(a.python, dict(os.environ, **torch_env))
    tn_info = run_json([os.path.join(a.build, "benchmarks", "compare_typenet"), "--info"],
                       dict(os.environ, **tn_env))[0] if os.access(os.path.join(a.build, "benchmarks",
                                                                             "compare_typenet"), os.X_OK) else {}
    lines = [f"# Time to {100 * target:g}% MNIST test accuracy, typenet vs PyTorch, CPU, {datetime.date.today()}", "",
             f"- machine: {cpu_model()}, {os.cpu_count()} cores, {platform.platform()}",
             f"- CPU: {cpu_identity()}",
             f"- load average before: {load_before}; after: {load_average()}",
             f"- typenet {tn_info.get('version', '?')}, {tn_info.get('compiler', '?')}, {tn_info.get('cpu_backend', '?')}; "
             f"PyTorch {tinfo['version']} ({tinfo.get('build')})",
             f"- recipe (both): examples/mnist_fast.cpp's BatchNorm CNN (166,074 parameters), Glorot-uniform "
             "(PyTorch: xavier_uniform_, zero biases), Adam eps 1e-7 under a one-cycle rate stepped per batch "
             f"(peak 0.01, 30% warm-up, div 25, final div 1e4), batch 64, one epoch, {a.threads} threads; "
             "timed from the first batch to the end of the first epoch whose test accuracy reaches the target, "
             "the test evaluation included; each run a fresh process, the libraries alternating",
             "", "Commands:", "", "```", shlex.join(sys.argv)]
    lines += [" ".join(f"{k}={v}" for k, v in env.items()) + " " + shlex.join(cmd).replace(ROOT + "/", "")
              for _, cmd, env in libs]
    lines += ["```", "", "\n".join(rows), "", "Runs (seconds to the target, in run order; - = not reached):", ""]
    for name, rs in runs.items():
        lines.append(f"- {name}: " + ", ".join(f"{r['time_to_seconds']:.2f}" if r["reached_epoch"] else "-"
                                               for r in rs))
    report = "\n".join(lines) + "\n"
    print("\n" + "\n".join(rows))
    if a.out is None:
        machine = a.machine or slug(f"{cpu_model()}-{os.cpu_count()}c")
        a.out = os.path.join(ROOT, "benchmarks", "results", f"{datetime.date.today().isoformat()}-{machine}-time-to.md")
    with open(a.out, "w") as f:
        f.write(report)
    print(f"\nwritten to {os.path.relpath(a.out, os.getcwd())}")


def main():
    a = parse_args()
    if a.time_to is not None:
        if not 0.0 < a.time_to < 1.0:
            fail("--time-to takes a test accuracy between 0 and 1, e.g. 0.99")
        return time_to(a)
    exe = check_inputs(a)
    tn_env, torch_env = environments(a.threads)
    tn_info = run_json([exe, "--info"], dict(os.environ, **tn_env))[0]
    if tn_info.get("build_type") not in ("Release", "RelWithDebInfo"):
        print(f"warning: compare_typenet was built as '{tn_info.get('build_type')}'; use a Release build for figures")
    tinfo = torch_info(a.python, dict(os.environ, **torch_env))
    lt_exe, lt_skipped = libtorch_exe(a)
    lt_info = run_json([lt_exe, "--info"], dict(os.environ, **torch_env))[0] if lt_exe else {}
    notes = [lt_skipped] if lt_skipped else []
    libs = runners(a, exe, tinfo, tn_info, lt_exe, lt_info, notes)
    for n in notes:
        print(f"note: {n}")
    load_before = load_average()
    print(f"run_compare: {a.device}, {a.threads} threads, {a.reps} repetitions; load average {load_before}")
    if a.load:
        notes.append("--load: each epoch twice, quiet and beside `sh -c 'while :; do :; done'` (one core kept "
                     "busy), the order alternating; cores used = the process's user + sys CPU time / its wall time "
                     "(loading and evaluation included); busy loop alone = share of 10 ms samples in which no "
                     "runnable thread of the library was on the busy loop's CPU; a fair scheduler gives the "
                     f"library's {a.threads} threads {a.threads ** 2}/{a.threads + 1} cores in all beside the loop, "
                     f"so a perfectly parallel epoch takes {(a.threads + 1) / a.threads:.2f}x its quiet time")
        results = measure_load(a, libs)
        body, runs = load_table(results, libs), load_runs(results)
    else:
        results = measure(a, libs)
        body, runs = table(results, libs), raw_runs(results)
    report = header(a, tinfo, tn_info, lt_info, notes, libs, load_before, load_average()) + body + "\n" + runs
    print("\n" + body)
    for n in notes:
        print(f"note: {n}")
    if a.out is None:
        machine = a.machine or slug(tinfo.get("gpu") if a.device == "cuda" else f"{cpu_model()}-{os.cpu_count()}c")
        suffix = ("-smoke" if a.quick else "") + ("-load" if a.load else "")
        name = f"{datetime.date.today().isoformat()}-{machine}{suffix}.md"
        a.out = os.path.join(ROOT, "benchmarks", "results", name)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(report)
    print(f"\nwritten to {os.path.relpath(a.out, os.getcwd())}")


if __name__ == "__main__":
    main()
