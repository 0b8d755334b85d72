#!/usr/bin/env bash
# Installs what typenet's build, tests, examples and benchmarks need on a
# Debian / Ubuntu machine: a C++20 compiler, CMake, Eigen, OpenBLAS,
# GoogleTest, Google Benchmark, stb (PNG images). Does nothing when everything
# is present.
#   --tests also what the interop and ONNX tests run against: PyTorch, the onnx
#           package (its checker) and Node.js with npm (ctest's onnx.ort_install
#           then puts onnxruntime-node into the build directory), and Open MPI
#           (libopenmpi-dev, with mpirun) for the data-parallel tests (mpi.*);
#           without them those tests skip and say why
#   --fuzz  also Clang and its libFuzzer runtime, for cmake/run_fuzz.sh
#           (libclang-rt-dev follows the default clang's version; on Debian 12
#           it is libclang-rt-14-dev, which ships libclang_rt.fuzzer).
set -euo pipefail

packages=(g++ cmake make libeigen3-dev libopenblas-dev libgtest-dev libgmock-dev libbenchmark-dev libstb-dev)
for arg in "$@"; do
  case $arg in
    --tests)
      packages+=(python3-torch python3-onnx libopenmpi-dev openmpi-bin)
      # Any node and npm on the PATH will do (e.g. NodeSource's nodejs, which
      # bundles npm and conflicts with Debian's npm package); Debian's otherwise.
      command -v node >/dev/null || packages+=(nodejs)
      command -v npm >/dev/null || packages+=(npm)
      ;;
    --fuzz) packages+=(clang libclang-rt-dev) ;;
    *) echo "install_deps: unknown option '$arg' (known: --tests, --fuzz)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all build dependencies present"
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "install_deps: missing ${missing[*]}, and this is not a Debian-like system; install the equivalents" \
       "(a C++20 compiler, CMake >= 3.25, Eigen 3, OpenBLAS, GoogleTest, Google Benchmark, stb_image_write.h;" \
       "with --tests, Python 3 with torch and onnx, Node.js with npm, an MPI; with --fuzz, Clang and libFuzzer) by hand" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: run as root or install sudo (missing: ${missing[*]})" >&2; exit 1; }
  sudo=sudo
fi
echo "install_deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
echo "install_deps: done"
