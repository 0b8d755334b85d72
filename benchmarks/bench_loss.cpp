// bench_loss - the fused softmax cross-entropy (loss, gradient and accuracy
// count in one pass) over 10 classes, at the comparison's batch sizes.
//
// The op reads the (batch, 10) logits and labels and writes the gradient:
// a few KB, so this measures per-row arithmetic (exp, log, argmax), not
// memory; ns/elem is per logit.
#include "bench_common.hpp"

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
void register_backend() {
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
