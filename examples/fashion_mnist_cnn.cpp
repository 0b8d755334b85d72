// fashion_mnist_cnn - the same reference CNN on Fashion-MNIST.
//
// What: trains the articles' CNN, unchanged, on Zalando's Fashion-MNIST (28x28
// greyscale images of 10 kinds of clothing, the same format as MNIST but much
// harder) for 10 epochs and reports the test accuracy; about 90% is typical
// for a network of this size.
// Why: shows that nothing in the network or the training is MNIST-specific.
// Data: the IDX files fetched by cmake/fetch_data.sh into data/fashion-mnist
// (from Debian's dataset-fashion-mnist package); pixels scaled to [0, 1].
#include "reference_cnn.hpp"

int main(int argc, char** argv) try {
    const example::Args args(argc, argv, example::cnn_usage("fashion_mnist_cnn"));
    const auto root = example::data_root(args);
    const typenet::Split fashion = typenet::load_fashion_mnist(root / "fashion-mnist");
    std::cout << "Fashion-MNIST: " << fashion.train.size() << " training and " << fashion.test.size()
              << " test images from " << (root / "fashion-mnist").string() << "\n";
    // Fashion-MNIST is harder: 5 epochs end just under 90%, 10 epochs above it.
    example::train_reference_cnn(args, fashion, 10);
    return 0;
} catch (const typenet::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
}
