// examples/example_device.hpp - the examples' --device option: one training
// function, written once as a template over the backend, runs on tn::Cpu or
// tn::Cuda. The CUDA branch exists only in builds with TYPENET_CUDA (the
// example then links typenet::cuda and is compiled by nvcc).
#pragma once

#include <typenet/typenet.hpp>

#include <string>

#include "example_args.hpp"

namespace example {

namespace tn = typenet;

inline constexpr const char* device_usage =
    "  --device   cpu (default) or cuda\n"
    "  --tf32     yes: TF32 tensor cores for float products and convolutions on cuda (default no)\n"
    "  --threads  CPU threads (default: all cores, or $TYPENET_THREADS)\n";

/// Calls run(backend, description) with the backend --device names and
/// returns what run returns.
template <class Run>
auto with_device(const Args& args, Run&& run) {
    const std::string device = args.get("--device", "cpu");
    if (device == "cuda") {
#if defined(TYPENET_CUDA)
        tn::Cuda be{{.tf32 = args.get("--tf32", "no") == "yes"}};  // throws, saying why, without a GPU
        return run(be, "CUDA backend on " + be.device_name() + (be.tf32() ? " with TF32" : ""));
#else
        args.fail("this build has no CUDA support; configure with -DTYPENET_CUDA=ON on a machine with nvcc");
#endif
    }
    if (device != "cpu") args.fail("--device must be 'cpu' or 'cuda', got '" + device + "'");
    const int threads = int(args.get_int("--threads", tn::Cpu::default_threads()));
    return run(tn::Cpu{threads}, "CPU backend, " + std::to_string(threads) + " thread(s)");
}

}  // namespace example
