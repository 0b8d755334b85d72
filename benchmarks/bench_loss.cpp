// bench_loss - the fused softmax cross-entropy (loss, gradient and accuracy
// count in one pass) over 10 classes, at the comparison's batch sizes; and
// the sigmoid, forward and backward, over the small MLP's hidden layers.
//
// The loss reads the (batch, 10) logits and labels and writes the gradient:
// a few KB, so this measures per-row arithmetic (exp, log, argmax), not
// memory; ns/elem is per logit. The sigmoid runs over 500 x 70 and 500 x 30
// values (the 784-70-30-10 MLP at batch 500); ns/elem is per value.
#include "bench_common.hpp"

#include <algorithm>
#include <cmath>

namespace {

using namespace bench;

constexpr std::size_t classes = 10;
constexpr std::size_t batches[] = {64, 128, 256, 500};

template <class B>
void softmax_xent(benchmark::State& state, std::size_t n, int threads) {
    guarded(state, [&] {
        B be = make_backend<B>(threads);
        auto logits = random_tensor<B>(n * classes, 1, -5.0, 5.0);  // (n,classes)
        auto labels = random_labels<B>(n, classes, 2);              // (n)
        auto grad = random_tensor<B>(n * classes, 3);               // (n,classes)
        DeviceTensor<B, double> acc(tn::Dims{2});
        const double seconds = time_iterations(state, be, [&] {
            softmax_cross_entropy(be, n, classes, logits.data(), labels.data(), grad.data(), 1.0f / float(n),
                                  acc.data());
        });
        double host[2];
        read_accumulator(be, acc.data(), host);
        check(state, std::isfinite(host[0]) && host[0] > 0, "softmax_cross_entropy: the summed loss is not finite and positive");
        set_counters(state, seconds, {.images = double(n), .elements = double(n * classes)});
    });
}

template <class B>
void sigmoid(benchmark::State& state, std::size_t rows, std::size_t width, bool backward, int threads) {
    guarded(state, [&] {
        B be = make_backend<B>(threads);
        const std::size_t count = rows * width;
        auto x = random_tensor<B>(count, 1, -6.0, 6.0);
        auto y = random_tensor<B>(count, 2);
        auto dy = random_tensor<B>(count, 3);
        auto dx = random_tensor<B>(count, 4);
        activation_forward(be, tn::ActivationKind::sigmoid, count, x.data(), y.data());
        const double seconds = time_iterations(state, be, [&] {
            if (backward)
                activation_backward(be, tn::ActivationKind::sigmoid, count, x.data(), y.data(), dy.data(), dx.data());
            else
                activation_forward(be, tn::ActivationKind::sigmoid, count, x.data(), y.data());
        });
        const std::vector<float> host = (backward ? dx : y).to_host();
        const bool ok = std::all_of(host.begin(), host.end(), [&](float v) {
            return std::isfinite(v) && (backward || (v >= 0.0f && v <= 1.0f));
        });
        check(state, ok, backward ? "sigmoid backward: a gradient is not finite" : "sigmoid: a value is outside [0, 1]");
        set_counters(state, seconds, {.images = double(rows), .elements = double(count)});
    });
}

template <class B>
void register_backend() {
    for (const int t : threads_for<B>())
        for (const std::size_t width : {std::size_t{70}, std::size_t{30}})
            for (const bool backward : {false, true})
                benchmark::RegisterBenchmark(case_name<B>(backward ? "act/sigmoid_bwd" : "act/sigmoid_fwd",
                                                          "500x" + std::to_string(width), t)
                                                 .c_str(),
                                             sigmoid<B>, std::size_t{500}, width, backward, t)
                    ->UseManualTime()
                    ->Unit(benchmark::kMicrosecond);
    for (const int t : threads_for<B>())
        for (const std::size_t n : batches)
            benchmark::RegisterBenchmark(
                case_name<B>("loss/softmax_xent", "classes:10/batch:" + std::to_string(n), t).c_str(),
                softmax_xent<B>, n, t)
                ->UseManualTime()
                ->Unit(benchmark::kMicrosecond);
}

}  // namespace

TYPENET_BENCH_MAIN(register_backend)
