// bench_optim - one optimizer step (RMSprop, Adam) over the reference CNN's
// 96,844 parameters (and the wide MLP's 407,050), through the public API
// (Model + optimizer.step), and plain-loop references for what memory-bound
// work costs on this machine.
//
// An optimizer step is one pass over flat buffers (RMSprop touches w, g, s;
// Adam w, g, m, v): a few arithmetic operations per several bytes, so GB/s
// and ns/elem (per parameter) are the figures to read.
//
// ref_triad (a[i] = b[i] + s * c[i], one thread) is not typenet code: it is
// the floor for any 3-array elementwise op at each size, from L2-resident
// (16K values) to DRAM (8M values). On the VMs typenet was profiled on, it
// costs ~4 ns per element once the arrays leave L2, several times what a
// bare-metal core pays; compare the optimizer and pooling figures with it.
#include "bench_common.hpp"
#include "bench_nets.hpp"

#include <memory>
#include <utility>

namespace {

using namespace bench;

template <class B, class Net, class Opt>
void optimizer_step(benchmark::State& state, int threads, double bytes_per_param) {
    guarded(state, [&] {
        tn::Model<Net, B> model{42, make_backend<B>(threads)};
        auto g = random_tensor<B>(Net::parameter_count, 1, -1e-2, 1e-2);
        model.gradients().from_host(std::span<const float>(g.to_host()));
        Opt opt{};  // Keras defaults: lr 1e-3
        const double seconds = time_iterations(state, model.backend(), [&] { opt.step(model); });
        const double n = double(Net::parameter_count);
        set_counters(state, seconds, {.bytes = bytes_per_param * n, .elements = n});
    });
}

void ref_triad(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<float> a(n, 0.0f), b(n, 1.0f), c(n, 2.0f);
    tn::Cpu be{1};
    const double seconds = time_iterations(state, be, [&] {
        float* pa = a.data();
        const float *pb = b.data(), *pc = c.data();
        for (std::size_t i = 0; i < n; ++i) pa[i] = pb[i] + 0.5f * pc[i];
        benchmark::DoNotOptimize(pa);
        benchmark::ClobberMemory();
    });
    set_counters(state, seconds, {.bytes = 12.0 * double(n), .elements = double(n)});
}

// The same loop writing into memory allocated for the iteration, as code
// that allocates its outputs per op does (PyTorch on the CPU, for one).
// glibc serves blocks above its mmap threshold (128 KB, rising after frees to
// at most 32 MB) with fresh pages, each first touch a page fault, which on a
// VM costs microseconds. typenet's training loop allocates nothing, so this
// is a reference, not a typenet cost.
void ref_triad_fresh(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<float> b(n, 1.0f), c(n, 2.0f);
    tn::Cpu be{1};
    const double seconds = time_iterations(state, be, [&] {
        const auto a = std::make_unique_for_overwrite<float[]>(n);
        float* pa = a.get();
        const float *pb = b.data(), *pc = c.data();
        for (std::size_t i = 0; i < n; ++i) pa[i] = pb[i] + 0.5f * pc[i];
        benchmark::DoNotOptimize(pa);
        benchmark::ClobberMemory();
    });
    set_counters(state, seconds, {.bytes = 12.0 * double(n), .elements = double(n)});
}

// The reference CNN's parameters, and the wide MLP's (407,050), the largest
// buffer of the comparison, where the step's share of training time is largest.
template <class B, class Net>
void register_net(const char* net, int t) {
    const std::string shape = std::string(net) + ".params:" + std::to_string(Net::parameter_count);
    // Bytes per parameter: each array read once and, for state and weights, written once.
    benchmark::RegisterBenchmark(case_name<B>("optim/rmsprop", shape, t).c_str(), optimizer_step<B, Net, tn::RMSprop>,
                                 t, 5.0 * 4.0)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(case_name<B>("optim/adam", shape, t).c_str(), optimizer_step<B, Net, tn::Adam>, t,
                                 7.0 * 4.0)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
}

template <class B>
void register_backend() {
    for (const int t : threads_for<B>()) {
        register_net<B, Cnn>("cnn", t);
        register_net<B, MlpWide>("mlp_wide", t);
    }
}

void register_cases() {
    bench::register_all_backends([]<class B>(std::type_identity<B>) { register_backend<B>(); });
    using Case = void (*)(benchmark::State&);
    const std::pair<const char*, Case> references[] = {{"ref_triad/cpu/threads:1", ref_triad},
                                                       {"ref_triad_fresh/cpu/threads:1", ref_triad_fresh}};
    for (const auto& [name, fn] : references)
        benchmark::RegisterBenchmark(name, fn)
            ->ArgName("n")
            ->Arg(16384)
            ->Arg(Cnn::parameter_count)
            ->Arg(1 << 20)
            ->Arg(1 << 23)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) { return bench::run_main(argc, argv, register_cases); }
