// bench_conv_direct - the direct float convolutions (backend/cpu/conv_direct.hpp)
// against today's im2col + GEMM ops (conv.hpp) on the reference CNN's three
// convolutions, forward / backward-data / backward-filter, batch 64 and 256,
// in one run so their ratio is measured under the same machine load.
//
// FLOPs are 2*N*C_out*OH*OW*C_in*KH*KW per pass for both; %peak divides by the
// shared 2048^3 SGEMM rate (see bench_gemm). The forward cases of both
// include the bias; the direct one fuses ReLU too (the im2col op has none).
#include "bench_common.hpp"

#include <typenet/backend/cpu/conv_direct.hpp>

namespace {

using namespace bench;

struct ConvShape {
    const char* layer;
    std::size_t c_in, h, w, c_out, k;
};

constexpr ConvShape conv_shapes[] = {{"conv1", 1, 28, 28, 32, 3}, {"conv2", 32, 13, 13, 64, 3}, {"conv3", 64, 5, 5, 64, 3}};
constexpr std::size_t batches[] = {64, 256};

enum class Pass { fwd, bwd_data, bwd_filter };
constexpr const char* pass_name[] = {"conv/fwd", "conv/bwd_data", "conv/bwd_filter"};
enum class Impl { direct, im2col };
constexpr const char* impl_name[] = {"direct", "im2col"};

void conv_case(benchmark::State& state, ConvShape s, std::size_t n, Pass p, Impl impl, int threads) {
    using B = tn::Cpu;
    guarded(state, [&] {
        const double peak = peak_gflops<B>(threads);
        B be = make_backend<B>(threads);
        const auto g = tn::make_conv2d_geometry(n, s.c_in, s.h, s.w, s.c_out, s.k, s.k, 1, 1, tn::Padding::valid);
        auto x = random_tensor<B>(g.input_size(), 1, 0.0, 1.0);
        auto w = random_tensor<B>(g.weight_size(), 2);
        auto bias = random_tensor<B>(g.c_out, 3);
        auto y = random_tensor<B>(g.output_size(), 4);  // also dy
        auto dx = random_tensor<B>(g.input_size(), 5);
        auto dw = random_tensor<B>(g.weight_size(), 6);
        auto db = random_tensor<B>(g.c_out, 7);
        const std::size_t ws = impl == Impl::direct ? tn::conv2d_direct_workspace(be, g) : conv2d_workspace(be, g);
        DeviceTensor<B> workspace(tn::Dims{std::max<std::size_t>(ws, 1)});
        const double seconds = time_iterations(state, be, [&] {
            if (impl == Impl::direct) {
                switch (p) {
                    case Pass::fwd:
                        tn::conv2d_direct_forward(be, g, x.data(), w.data(), bias.data(), true, y.data(),
                                                  workspace.data());
                        break;
                    case Pass::bwd_data:
                        tn::conv2d_direct_backward_data(be, g, y.data(), w.data(), dx.data(), workspace.data());
                        break;
                    case Pass::bwd_filter:
                        tn::conv2d_direct_backward_filter(be, g, x.data(), y.data(), dw.data(), db.data(),
                                                          workspace.data());
                        break;
                }
                return;
            }
            switch (p) {
                case Pass::fwd:
                    conv2d_forward(be, g, x.data(), w.data(), bias.data(), y.data(), workspace.data());
                    break;
                case Pass::bwd_data:
                    conv2d_backward_data(be, g, y.data(), w.data(), dx.data(), workspace.data());
                    break;
                case Pass::bwd_filter:
                    conv2d_backward_filter(be, g, x.data(), y.data(), dw.data(), db.data(), workspace.data());
                    break;
            }
        });
        const double flops = 2.0 * double(g.n * g.c_out * g.out_h * g.out_w) * double(g.c_in * g.kh * g.kw);
        set_counters(state, seconds, {.flops = flops, .images = double(n)}, peak);
    });
}

template <class B>
void register_backend() {
    if constexpr (std::is_same_v<B, tn::Cpu>) {
        for (const int t : threads_for<B>())
            for (const Pass p : {Pass::fwd, Pass::bwd_data, Pass::bwd_filter})
                for (const ConvShape& s : conv_shapes)
                    for (const std::size_t n : batches)
                        for (const Impl impl : {Impl::direct, Impl::im2col}) {
                            const std::string shape = std::string(s.layer) + "." + std::to_string(s.c_in) + "x" +
                                                      std::to_string(s.h) + "x" + std::to_string(s.w) + "-" +
                                                      std::to_string(s.c_out) + "k" + std::to_string(s.k) +
                                                      "/batch:" + std::to_string(n);
                            const std::string name =
                                case_name<B>(std::string(pass_name[int(p)]) + "/" + impl_name[int(impl)], shape, t);
                            benchmark::RegisterBenchmark(name.c_str(), conv_case, s, n, p, impl, t)
                                ->UseManualTime()
                                ->Unit(benchmark::kMicrosecond);
                        }
    }
}

}  // namespace

TYPENET_BENCH_MAIN(register_backend)
