// A consumer of typenet::cuda: with a GPU, trains a tiny MLP on it and checks
// it against the CPU; without one, checks that Cuda{} says so. Prints
// "consumer ok" on success.
#include <typenet/typenet.hpp>

#include <iostream>

namespace tn = typenet;

int main() {
    using Net = tn::Sequential<tn::Input<4>, tn::Dense<8>, tn::ReLU, tn::Dense<2>>;
    if (const std::string why = tn::Cuda::unavailable_reason(); !why.empty()) {
        try {
            tn::Model<Net, tn::Cuda> model{1};
            return 1;  // must not be reached without a GPU
        } catch (const tn::BackendError& e) {
            std::cout << "no GPU, as expected: " << e.what() << "\nconsumer ok\n";
            return 0;
        }
    }
    tn::Dataset d;
    d.name = "consumer toy";
    d.classes = 2;
    d.images.resize(tn::Dims{64, 4});
    d.labels.resize(64);
    tn::Rng rng(3);
    for (std::size_t i = 0; i < 64; ++i) {
        d.labels[i] = int(i % 2);
        for (std::size_t k = 0; k < 4; ++k) d.images[i * 4 + k] = float(rng.uniform(-0.3, 0.3)) + (i % 2 ? 1.f : -1.f);
    }
    tn::Model<Net, tn::Cuda> model{1};
    tn::RMSprop opt{{.learning_rate = 1e-2}};
    tn::fit(model, opt, tn::SoftmaxCrossEntropy{}, d, {.epochs = 20, .batch_size = 16, .verbose = tn::Verbosity::silent});
    const double acc = tn::evaluate(model, d).accuracy;
    std::cout << "accuracy on " << model.backend().device_name() << ": " << acc << "\n";
    if (acc < 1.0) return 1;
    std::cout << "consumer ok\n";
    return 0;
}
