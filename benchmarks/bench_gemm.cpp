// bench_gemm - the matrix products of Dense at the reference networks' shapes.
//
// Dense runs three products per layer and batch (row-major, weight (out, in)):
//   fwd          Y(n,out)  = X(n,in) * W^T
//   bwd_weights  dW(out,in) = dY^T(out,n) * X(n,in)
//   bwd_data     dX(n,in)  = dY(n,out) * W(out,in)   (fit skips it for the first layer)
// Each case reports GFLOP/s and %peak: on the CPU the share of the measured
// fp32 FMA throughput of the backend's kernel path (bench_common.hpp's
// peak_gflops), on a GPU of a 2048^3 SGEMM's rate. The gemm/peak case shows
// the 2048^3 SGEMM against the same peak. Small products cannot reach it; the
// figure says how far from it each shape is.
#include "bench_common.hpp"

namespace {

using namespace bench;

struct DenseShape {
    const char* layer;  // net.layer, as in the reference networks
    std::size_t batch, in, out;
};

// MLP 784-70-30-10 at batch 500, MLP 784-512-10 at batch 128, and the CNN's
// Dense 576->70 at the comparison's two batch sizes.
constexpr DenseShape dense_shapes[] = {
    {"mlp_small.dense0", 500, 784, 70}, {"mlp_small.dense1", 500, 70, 30}, {"mlp_small.dense2", 500, 30, 10},
    {"mlp_wide.dense0", 128, 784, 512}, {"mlp_wide.dense1", 128, 512, 10}, {"cnn.dense0", 64, 576, 70},
    {"cnn.dense0", 256, 576, 70},
};

enum class Product { fwd, bwd_weights, bwd_data };
constexpr const char* product_name[] = {"gemm/fwd", "gemm/bwd_weights", "gemm/bwd_data"};

template <class B>
void dense_product(benchmark::State& state, DenseShape s, Product p, int threads) {
    guarded(state, [&] {
        const double peak = peak_gflops<B>(threads);
        B be = make_backend<B>(threads);
        const std::size_t n = s.batch, in = s.in, out = s.out;
        auto x = random_tensor<B>(n * in, 1);    // (n,in)
        auto w = random_tensor<B>(out * in, 2);  // (out,in)
        auto dy = random_tensor<B>(n * out, 3);  // (n,out)
        auto y = random_tensor<B>(n * out, 4);   // (n,out)
        auto dw = random_tensor<B>(out * in, 5); // (out,in)
        auto dx = random_tensor<B>(n * in, 6);   // (n,in)
        const double seconds = time_iterations(state, be, [&] {
            switch (p) {  // the exact calls of layers/dense.hpp
                case Product::fwd:
                    gemm(be, false, true, n, out, in, 1.0f, x.data(), in, w.data(), in, 0.0f, y.data(), out);
                    break;
                case Product::bwd_weights:
                    gemm(be, true, false, out, in, n, 1.0f, dy.data(), out, x.data(), in, 0.0f, dw.data(), in);
                    break;
                case Product::bwd_data:
                    gemm(be, false, false, n, in, out, 1.0f, dy.data(), out, w.data(), in, 0.0f, dx.data(), in);
                    break;
            }
        });
        set_counters(state, seconds, {.flops = 2.0 * double(n * in * out), .images = double(n)}, peak);
    });
}

// The peak case: a 2048^3 product timed like the others, against the shared
// peak; peak_GFLOP/s is that peak itself.
template <class B>
void peak_sgemm(benchmark::State& state, int threads) {
    guarded(state, [&] {
        const double peak = peak_gflops<B>(threads);
        B be = make_backend<B>(threads);
        const std::size_t n = peak_size;
        auto a = random_tensor<B>(n * n, 1), b = random_tensor<B>(n * n, 2), c = random_tensor<B>(n * n, 3);
        const double seconds = time_iterations(state, be, [&] {
            gemm(be, false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
        });
        set_counters(state, seconds, {.flops = 2.0 * double(n) * double(n) * double(n)}, peak);
        state.counters["peak_GFLOP/s"] = peak;
    });
}

template <class B>
void register_backend() {
    for (const int t : threads_for<B>()) {
        const std::string peak_shape = std::to_string(peak_size) + "x" + std::to_string(peak_size) + "x" +
                                       std::to_string(peak_size);
        benchmark::RegisterBenchmark(case_name<B>("gemm/peak", peak_shape, t).c_str(), peak_sgemm<B>, t)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
        for (const Product p : {Product::fwd, Product::bwd_weights, Product::bwd_data})
            for (const DenseShape& s : dense_shapes) {
                const std::string shape = std::string(s.layer) + "." + std::to_string(s.in) + "x" +
                                          std::to_string(s.out) + "/batch:" + std::to_string(s.batch);
                benchmark::RegisterBenchmark(case_name<B>(product_name[int(p)], shape, t).c_str(),
                                             dense_product<B>, s, p, t)
                    ->UseManualTime()
                    ->Unit(benchmark::kMicrosecond);
            }
    }
}

}  // namespace

TYPENET_BENCH_MAIN(register_backend)
