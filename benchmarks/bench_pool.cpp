// bench_pool - the reference CNN's two 2x2 max poolings, forward and backward.
//
// Pooling does almost no arithmetic: its cost is moving memory, so the
// counters are GB/s (each array read or written once: forward reads x and
// writes y and the int32 argmax; backward reads dy and argmax and writes dx)
// and ns/elem per input value. At batch 256 the first pooling's input is
// 22 MB, far outside the caches, which is where this machine's memory cost
// shows (see bench_optim's ref_triad for the plain-loop baseline).
#include "bench_common.hpp"

namespace {

using namespace bench;

struct PoolShape {
    const char* layer;
    std::size_t c, h, w;
};

constexpr PoolShape pool_shapes[] = {{"pool1", 32, 26, 26}, {"pool2", 64, 11, 11}};  // after conv1 / conv2
constexpr std::size_t batches[] = {64, 256};

template <class B>
void maxpool(benchmark::State& state, PoolShape s, std::size_t n, bool backward, int threads) {
    guarded(state, [&] {
        B be = make_backend<B>(threads);
        const auto g = tn::make_pool2d_geometry(n, s.c, s.h, s.w, 2, 2, 2, 2);
        auto x = random_tensor<B>(g.input_size(), 1);   // (N,C,H,W); random, so the argmax is unpredictable
        auto y = random_tensor<B>(g.output_size(), 2);  // (N,C,OH,OW), also dy
        auto dx = random_tensor<B>(g.input_size(), 3);
        DeviceTensor<B, std::int32_t> argmax(tn::Dims{g.output_size()});
        maxpool2d_forward(be, g, x.data(), y.data(), argmax.data());  // valid indices for backward
        const double seconds = time_iterations(state, be, [&] {
            if (backward) maxpool2d_backward(be, g, y.data(), argmax.data(), dx.data());
            else maxpool2d_forward(be, g, x.data(), y.data(), argmax.data());
        });
        const double bytes = 4.0 * double(g.input_size() + 2 * g.output_size());  // same traffic both ways
        set_counters(state, seconds, {.images = double(n), .bytes = bytes, .elements = double(g.input_size())});
    });
}

template <class B>
void register_backend() {
    for (const int t : threads_for<B>())
        for (const bool backward : {false, true})
            for (const PoolShape& s : pool_shapes)
                for (const std::size_t n : batches) {
                    const std::string shape = std::string(s.layer) + "." + std::to_string(s.c) + "x" +
                                              std::to_string(s.h) + "x" + std::to_string(s.w) +
                                              "/batch:" + std::to_string(n);
                    benchmark::RegisterBenchmark(case_name<B>(backward ? "pool/max_bwd" : "pool/max_fwd", shape, t).c_str(),
                                                 maxpool<B>, s, n, backward, t)
                        ->UseManualTime()
                        ->Unit(benchmark::kMicrosecond);
                }
}

}  // namespace

TYPENET_BENCH_MAIN(register_backend)
