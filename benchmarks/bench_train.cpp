// bench_train - whole training steps and whole epochs of the reference
// networks, at the comparison's four configurations, on synthetic data of
// MNIST's size (60,000 random 1x28x28 images, random labels), so it needs no
// download and runs in CI.
//
// step:  what fit does per batch - gather the batch through a shuffled index,
//        forward, fused loss + gradient, backward, RMSprop step.
// epoch: tn::fit for one epoch (shuffle included); the time is fit's own
//        epoch time, which leaves out copying the dataset to the device.
// infer/fused: one batch through Model::infer (evaluate's and predict's
//        forward); infer/unfused: forward(x, n, false), layer by layer.
// images/s is the training throughput; random inputs cost the same as
// digits (no op's time depends on the values).
#include "bench_common.hpp"
#include "bench_nets.hpp"

#include <numeric>

namespace {

using namespace bench;

constexpr std::size_t mnist_train_size = 60'000;

/// The synthetic training set, made once per process (188 MB of floats).
const tn::Dataset& synthetic_mnist() {
    static const tn::Dataset data = [] {
        tn::Dataset d;
        d.images.resize(tn::Dims{mnist_train_size, 1, 28, 28});
        tn::Rng rng(7);
        for (float& v : d.images.span()) v = static_cast<float>(rng.uniform());
        d.labels.resize(mnist_train_size);
        for (auto& l : d.labels) l = static_cast<std::int32_t>(rng.uniform() * 10.0) % 10;
        d.classes = 10;
        d.name = "synthetic MNIST-sized";
        return d;
    }();
    return data;
}

template <class B, class Net>
void train_step(benchmark::State& state, std::size_t batch, int threads) {
    guarded(state, [&] {
        using M = tn::Model<Net, B>;
        M model{42, make_backend<B>(threads)};
        auto& be = model.backend();
        tn::RMSprop opt{};
        const tn::SoftmaxCrossEntropy<10> loss;
        const tn::Dataset& data = synthetic_mnist();
        const std::size_t N = data.size();
        // The dataset on the training device, and one shuffled order, as fit holds them.
        DeviceTensor<B> images(tn::Dims{data.images.size()});
        images.from_host(data.images.span());
        DeviceTensor<B, std::int32_t> labels(tn::Dims{N});
        labels.from_host(std::span<const std::int32_t>(data.labels));
        std::vector<std::uint32_t> perm(N);
        std::iota(perm.begin(), perm.end(), 0u);
        model.rng().shuffle(std::span<std::uint32_t>(perm));
        DeviceTensor<B, std::uint32_t> index(tn::Dims{N});
        index.from_host(std::span<const std::uint32_t>(perm));
        DeviceTensor<B> x(tn::Dims{batch * M::input_size}), dout(tn::Dims{batch * M::output_size});
        DeviceTensor<B, std::int32_t> y(tn::Dims{batch});
        DeviceTensor<B, double> acc(tn::Dims{2});
        model.reserve(batch);

        std::size_t first = 0;
        const double seconds = time_iterations(state, be, [&] {
            if (first + batch > N) first = 0;
            gather_rows(be, batch, M::input_size, images.data(), index.data() + first, x.data());
            gather_labels(be, batch, labels.data(), index.data() + first, y.data());
            const float* out = model.forward(x.data(), batch, true);
            loss(be, batch, M::output_size, out, y.data(), dout.data(), 1.0f / float(batch), acc.data());
            model.backward(dout.data());
            opt.step(model);
            first += batch;
        });
        double host[2];
        read_accumulator(be, acc.data(), host);
        check(state, std::isfinite(host[0]), "training step: the loss became non-finite");
        set_counters(state, seconds, {.images = double(batch)});
    });
}

template <class B, class Net>
void train_epoch(benchmark::State& state, std::size_t batch, int threads) {
    guarded(state, [&] {
        tn::Model<Net, B> model{42, make_backend<B>(threads)};
        tn::RMSprop opt{};
        const tn::Dataset& data = synthetic_mnist();
        double total = 0;
        for (auto _ : state) {
            const auto h = tn::fit(model, opt, tn::SoftmaxCrossEntropy<10>{}, data,
                                   {.epochs = 1, .batch_size = batch, .verbose = tn::Verbosity::silent});
            state.SetIterationTime(h.epochs.back().seconds);
            total += h.epochs.back().seconds;
        }
        set_counters(state, total, {.images = double(data.size())});
    });
}

/// One batch through the network in inference: Model::infer (what evaluate,
/// predict and fit's validation run: the training forward's fused ops) or,
/// for reference, forward(x, n, false), which stores every layer's output.
template <class B, class Net, bool Fused>
void infer_batch(benchmark::State& state, std::size_t batch, int threads) {
    guarded(state, [&] {
        using M = tn::Model<Net, B>;
        M model{42, make_backend<B>(threads)};
        auto& be = model.backend();
        DeviceTensor<B> x(tn::Dims{batch * M::input_size});
        x.from_host(synthetic_mnist().images.span().subspan(0, batch * M::input_size));
        model.reserve(batch);
        const double seconds = time_iterations(state, be, [&] {
            if constexpr (Fused)
                model.infer(x.data(), batch);
            else
                model.forward(x.data(), batch, false);
        });
        set_counters(state, seconds, {.images = double(batch)});
    });
}

template <class B, class Net>
void add_config(const char* net, std::size_t batch, int threads) {
    const std::string shape = std::string(net) + "/batch:" + std::to_string(batch);
    benchmark::RegisterBenchmark(case_name<B>("train/step", shape, threads).c_str(), train_step<B, Net>, batch,
                                 threads)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(case_name<B>("train/epoch", shape, threads).c_str(), train_epoch<B, Net>, batch,
                                 threads)
        ->UseManualTime()
        ->Unit(benchmark::kSecond);
    benchmark::RegisterBenchmark(case_name<B>("infer/fused", shape, threads).c_str(), infer_batch<B, Net, true>,
                                 batch, threads)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(case_name<B>("infer/unfused", shape, threads).c_str(), infer_batch<B, Net, false>,
                                 batch, threads)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}

// The comparison's configurations (benchmarks/compare/run_compare.py).
template <class B>
void register_backend() {
    for (const int t : threads_for<B>()) {
        add_config<B, Cnn>("cnn", 64, t);
        add_config<B, Cnn>("cnn", 256, t);
        add_config<B, MlpSmall>("mlp_small", 500, t);
        add_config<B, MlpWide>("mlp_wide", 128, t);
    }
}

}  // namespace

TYPENET_BENCH_MAIN(register_backend)
