// mnist_cnn - the reference articles' convolutional network on real MNIST.
//
// What: trains the 96,844-parameter CNN (three 3x3 convolutions, two max
// pools, a 70-unit dense layer) for 5 epochs with RMSprop, batch 64, and
// reports the per-epoch loss, accuracy and time and the final accuracy on the
// 10,000 test digits. The articles' Keras run reached 99% test accuracy in 5
// epochs, at about 4 s per epoch on a GTX 960.
// Why: the README's main job: the whole library end to end, on the CPU or,
// with --device cuda, on an NVIDIA GPU (a build with TYPENET_CUDA).
// Data: the IDX files fetched by cmake/fetch_data.sh into data/mnist (or
// $TYPENET_DATA/mnist); pixels scaled to [0, 1].
#include "reference_cnn.hpp"

int main(int argc, char** argv) try {
    const example::Args args(argc, argv, example::cnn_usage("mnist_cnn"));
    const auto root = example::data_root(args);
    const typenet::Split mnist = typenet::load_mnist(root / "mnist");
    std::cout << "MNIST: " << mnist.train.size() << " training and " << mnist.test.size() << " test images from "
              << (root / "mnist").string() << "\n";
    example::train_reference_cnn(args, mnist);
    return 0;
} catch (const typenet::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
}
