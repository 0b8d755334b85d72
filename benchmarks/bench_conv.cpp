// bench_conv - the reference CNN's three convolutions: forward, backward-data
// and backward-filter (with the bias gradient), at batch 64 and 256.
//
// FLOPs are the direct convolution's 2*N*C_out*OH*OW*C_in*KH*KW per product
// (im2col copies, where that route runs, are not counted); %peak is of the
// measured FMA throughput of the kernel path (bench_common.hpp). fit skips
// bwd_data for the first convolution (no input gradient is needed there).
// conv1 and conv2 are followed by ReLU and 2x2 max pooling, so in training
// their forward is conv/fwd_relu_pool (the fused op, where the backend has
// it); its FLOPs are the convolution's alone. The first one's input needs
// no gradient, so in training its backward is conv/bwd_filter_relu_pool
// (the pooling's gradient routed straight into the backward-filter), shown
// beside conv/pool_bwd+bwd_filter, the two ops it replaces. The second's
// input needs one, so its whole backward runs from the pooling's gradient
// (conv/bwd_relu_pool: dx, dw and db, where the backend has
// ConvPoolBackwardOps), beside conv/pool_bwd+bwd, the three ops it
// replaces; their FLOPs are both dense products'.
#include "bench_common.hpp"
#include "bench_nets.hpp"

#include <array>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

using namespace bench;

struct ConvShape {
    std::size_t number;  // conv<number>, counted from 1 in the CNN
    std::size_t c_in, h, w, c_out, k;
    bool pooled;  // a ReLU and a 2x2 max pooling follow in the CNN
};
// The CNN's convolutions, read off its type (bench_nets.hpp) so the two
// cannot drift: (1,28,28)->(32,26,26), (32,13,13)->(64,11,11),
// (64,5,5)->(64,3,3), square kernels, valid padding, stride 1.
template <std::size_t I>
constexpr bool is_conv = requires { requires Cnn::layer<I>::ops == tn::OpFamily::convolution; };
template <std::size_t I>
constexpr bool pooled_after = [] {
    if constexpr (I + 2 < Cnn::layer_count)
        return tn::is_relu_layer<Cnn::layer<I + 1>> && tn::is_max_pool_layer<Cnn::layer<I + 2>>;
    else return false;
}();
constexpr auto conv_shapes = []<std::size_t... I>(std::index_sequence<I...>) {
    std::array<ConvShape, (std::size_t{0} + ... + std::size_t{is_conv<I>})> out{};
    std::size_t j = 0;
    const auto add = [&]<std::size_t L>() {
        if constexpr (is_conv<L>) {
            const auto g = Cnn::layer<L>::geometry(1);
            out[j] = {j + 1, g.c_in, g.h, g.w, g.c_out, g.kh, pooled_after<L>};
            ++j;
        }
    };
    (add.template operator()<I>(), ...);
    return out;
}(std::make_index_sequence<Cnn::layer_count>{});
static_assert(conv_shapes.size() == 3 && conv_shapes[0].pooled && conv_shapes[1].pooled && !conv_shapes[2].pooled);
constexpr std::size_t batches[] = {64, 256};

enum class Pass {
    fwd,
    bwd_data,
    bwd_filter,
    fwd_relu_pool,
    bwd_filter_relu_pool,
    pool_bwd_then_filter,
    bwd_relu_pool,
    pool_bwd_then_both
};
constexpr const char* pass_name[] = {"conv/fwd",           "conv/bwd_data",
                                     "conv/bwd_filter",    "conv/fwd_relu_pool",
                                     "conv/bwd_filter_relu_pool", "conv/pool_bwd+bwd_filter",
                                     "conv/bwd_relu_pool", "conv/pool_bwd+bwd"};
constexpr bool fused_pass(Pass p) { return p >= Pass::fwd_relu_pool; }
// The passes Model runs for a first pooled layer's backward, and for a later one's.
constexpr bool first_layer_pass(Pass p) { return p == Pass::bwd_filter_relu_pool || p == Pass::pool_bwd_then_filter; }
constexpr bool later_layer_pass(Pass p) { return p >= Pass::bwd_relu_pool; }
// On the CPU each case also runs through the im2col + GEMM route
// (conv-im2col/...), which the public ops use only where the direct kernels
// do not apply: the two side by side, in one run.
enum class Route { op, im2col };
constexpr const char* im2col_pass_name[] = {"conv-im2col/fwd", "conv-im2col/bwd_data", "conv-im2col/bwd_filter"};

// Runs pass p through the im2col + GEMM route of the CPU backend.
void im2col_pass(const tn::Cpu& be, const tn::Conv2dGeometry& g, Pass p, const float* x, const float* w,
                 const float* bias, float* y, float* dx, float* dw, float* db, float* workspace) {
    namespace cd = tn::cpu_detail;
    const std::size_t block = cd::conv2d_images_per_block(g);
    switch (p) {
        case Pass::fwd: cd::conv2d_forward_blocks(be, g, block, x, w, bias, y, workspace); break;
        case Pass::bwd_data: cd::conv2d_backward_data_blocks(be, g, block, y, w, dx, workspace); break;
        case Pass::bwd_filter: cd::conv2d_backward_filter_blocks(be, g, block, x, y, dw, db, workspace); break;
        default: throw std::logic_error("bench_conv: the fused passes have no im2col case");
    }
}

template <class B>
void conv_pass(benchmark::State& state, ConvShape s, std::size_t n, Pass p, Route route, int threads) {
    guarded(state, [&] {
        const double peak = peak_gflops<B>(threads);
        B be = make_backend<B>(threads);
        const auto g = tn::make_conv2d_geometry(n, s.c_in, s.h, s.w, s.c_out, s.k, s.k, 1, 1, tn::Padding::valid);
        auto x = random_tensor<B>(g.input_size(), 1, 0.0, 1.0);  // (N,C_in,H,W), non-negative like ReLU outputs
        auto w = random_tensor<B>(g.weight_size(), 2);           // (C_out,C_in,KH,KW)
        auto bias = random_tensor<B>(g.c_out, 3);                // (C_out)
        auto y = random_tensor<B>(g.output_size(), 4);           // (N,C_out,OH,OW), also dy
        auto dx = random_tensor<B>(g.input_size(), 5);           // (N,C_in,H,W)
        auto dw = random_tensor<B>(g.weight_size(), 6);
        auto db = random_tensor<B>(g.c_out, 7);
        DeviceTensor<B> workspace(tn::Dims{std::max<std::size_t>(conv2d_workspace(be, g), 1)});
        const auto pg = tn::make_pool2d_geometry(n, g.c_out, g.out_h, g.out_w, 2, 2, 2, 2);
        auto pool_y = random_tensor<B>(fused_pass(p) ? pg.output_size() : 1, 8);
        auto pool_dy = random_tensor<B>(fused_pass(p) ? pg.output_size() : 1, 9);
        std::vector<std::int32_t> argmax(fused_pass(p) ? pg.output_size() : 1);
        if constexpr (tn::ConvPoolFusionOps<B, float>)  // the backward passes' pool_y and argmax
            if (fused_pass(p))
                conv2d_relu_maxpool_forward(be, g, pg, x.data(), w.data(), bias.data(), y.data(), pool_y.data(),
                                            argmax.data(), workspace.data());
        const double seconds = time_iterations(state, be, [&] {
            if constexpr (std::is_same_v<B, tn::Cpu>)
                if (route == Route::im2col)
                    return im2col_pass(be, g, p, x.data(), w.data(), bias.data(), y.data(), dx.data(), dw.data(),
                                       db.data(), workspace.data());
            switch (p) {  // the calls of layers/conv2d.hpp
                case Pass::fwd:
                    conv2d_forward(be, g, x.data(), w.data(), bias.data(), y.data(), workspace.data());
                    break;
                case Pass::bwd_data:
                    conv2d_backward_data(be, g, y.data(), w.data(), dx.data(), workspace.data());
                    break;
                case Pass::bwd_filter:
                    conv2d_backward_filter(be, g, x.data(), y.data(), dw.data(), db.data(), workspace.data());
                    break;
                case Pass::fwd_relu_pool:  // (the fused passes: registered only where the backend has the ops)
                    if constexpr (tn::ConvPoolFusionOps<B, float>)
                        conv2d_relu_maxpool_forward(be, g, pg, x.data(), w.data(), bias.data(), y.data(),
                                                    pool_y.data(), argmax.data(), workspace.data());
                    break;
                case Pass::bwd_filter_relu_pool:
                    if constexpr (tn::ConvPoolFusionOps<B, float>)
                        conv2d_relu_maxpool_backward_filter(be, g, pg, x.data(), pool_y.data(), argmax.data(),
                                                            pool_dy.data(), y.data(), dw.data(), db.data(),
                                                            workspace.data());
                    break;
                case Pass::pool_bwd_then_filter:
                    maxpool2d_backward(be, pg, pool_dy.data(), argmax.data(), y.data(), pool_y.data());
                    conv2d_backward_filter(be, g, x.data(), y.data(), dw.data(), db.data(), workspace.data());
                    break;
                case Pass::bwd_relu_pool:
                    if constexpr (tn::ConvPoolBackwardOps<B, float>)
                        conv2d_relu_maxpool_backward(be, g, pg, x.data(), w.data(), pool_y.data(), argmax.data(),
                                                     pool_dy.data(), y.data(), dx.data(), dw.data(), db.data(),
                                                     workspace.data());
                    break;
                case Pass::pool_bwd_then_both:
                    maxpool2d_backward(be, pg, pool_dy.data(), argmax.data(), y.data(), pool_y.data());
                    conv2d_backward_filter(be, g, x.data(), y.data(), dw.data(), db.data(), workspace.data());
                    conv2d_backward_data(be, g, y.data(), w.data(), dx.data(), workspace.data());
                    break;
            }
        });
        const double flops = (later_layer_pass(p) ? 4.0 : 2.0) * double(g.n * g.c_out * g.out_h * g.out_w) *
                             double(g.c_in * g.kh * g.kw);
        set_counters(state, seconds, {.flops = flops, .images = double(n)}, peak);
    });
}

template <class B>
void register_backend() {
    for (const int t : threads_for<B>())
        for (const Pass p : {Pass::fwd, Pass::fwd_relu_pool, Pass::bwd_data, Pass::bwd_filter,
                             Pass::bwd_filter_relu_pool, Pass::pool_bwd_then_filter, Pass::bwd_relu_pool,
                             Pass::pool_bwd_then_both})
            for (const ConvShape& s : conv_shapes)
                for (const std::size_t n : batches) {
                    if (fused_pass(p) && (!s.pooled || !tn::ConvPoolFusionOps<B, float>)) continue;
                    if (first_layer_pass(p) && s.number != 1) continue;  // Model's backward for each pooled layer
                    if (later_layer_pass(p) && (s.number == 1 || !tn::ConvPoolBackwardOps<B, float>)) continue;
                    const std::string shape = "conv" + std::to_string(s.number) + "." + std::to_string(s.c_in) + "x" +
                                              std::to_string(s.h) + "x" + std::to_string(s.w) + "-" +
                                              std::to_string(s.c_out) + "k" + std::to_string(s.k) +
                                              "/batch:" + std::to_string(n);
                    for (const Route r : {Route::op, Route::im2col}) {
                        if (r == Route::im2col && (!std::is_same_v<B, tn::Cpu> || fused_pass(p))) continue;
                        const char* pass = r == Route::op ? pass_name[int(p)] : im2col_pass_name[int(p)];
                        benchmark::RegisterBenchmark(case_name<B>(pass, shape, t).c_str(), conv_pass<B>, s, n, p, r, t)
                            ->UseManualTime()
                            ->Unit(benchmark::kMicrosecond);
                    }
                }
}

}  // namespace

TYPENET_BENCH_MAIN(register_backend)
