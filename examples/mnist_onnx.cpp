// mnist_onnx - the reference CNN, trained (or loaded) and exported to ONNX.
//
// What: trains the reference CNN on MNIST (1 epoch by default; --weights FILE
// loads a safetensors file that save() or PyTorch wrote instead), exports it
// with export_onnx (opset 13, float32, input "input" (N, 1, 28, 28), output
// "output" (N, 10) logits, or probabilities with --softmax 1), reads the file
// back with load_onnx to check it, and prints the commands that run it in ONNX
// Runtime on the first test digit, with typenet's logits to compare.
// Why: a network trained with typenet deploys wherever ONNX runs (ONNX
// Runtime on a server, in a browser or on a phone, TensorRT, OpenVINO).
// Data: data/mnist (or $TYPENET_DATA/mnist, or --data DIR), from cmake/fetch_data.sh.
#include <typenet/io/onnx.hpp>

#include <algorithm>
#include <cstdio>

#include "reference_cnn.hpp"

namespace tn = typenet;

int main(int argc, char** argv) try {
    const example::Args args(argc, argv,
                             "usage: mnist_onnx [--out FILE] [--weights FILE] [--epochs N] [--softmax 0|1] [--threads N] "
                             "[--seed N] [--data DIR]\n"
                             "  --out      the ONNX file to write (default mnist_cnn.onnx)\n"
                             "  --weights  load these weights (safetensors, e.g. from save()) instead of training\n"
                             "  --epochs   epochs to train when no --weights (default 1)\n"
                             "  --softmax  1: the ONNX output is probabilities (a Softmax node is appended)\n"
                             "  --threads  CPU threads (default 2)\n"
                             "  --data     directory holding mnist/ (default $TYPENET_DATA, else the source tree's data/)\n");
    const auto root = example::data_root(args);
    const tn::Split mnist = tn::load_mnist(root / "mnist");
    const std::string out = args.get("--out", "mnist_cnn.onnx");
    const bool softmax = args.get_int("--softmax", 0) != 0;

    tn::Model<example::ReferenceCnn> model{std::uint64_t(args.get_int("--seed", 42)), tn::Cpu{int(args.get_int("--threads", 2))}};
    if (const std::string weights = args.get("--weights", ""); !weights.empty()) {
        tn::load(model, std::filesystem::path(weights));
        std::cout << "loaded weights from " << weights << "\n";
    } else {
        const auto epochs = std::size_t(args.get_int("--epochs", 1));
        std::cout << "training the reference CNN for " << epochs << " epoch(s) on " << mnist.train.size() << " images\n";
        tn::fit(model, tn::RMSprop{{.learning_rate = 1e-3, .decay = 1e-3}}, tn::SoftmaxCrossEntropy<10>{}, mnist.train,
                {.epochs = epochs, .batch_size = 64});
    }
    std::cout << "test accuracy " << tn::evaluate(model, mnist.test).accuracy * 100 << "%\n";

    tn::export_onnx(model, out, {.append_softmax = softmax});
    std::cout << "wrote " << out << " (" << std::filesystem::file_size(out) << " bytes): ONNX opset " << tn::onnx::opset
              << ", input 'input' (N, 1, 28, 28) float32 in [0, 1], output 'output' (N, 10) "
              << (softmax ? "probabilities" : "logits") << "\n";

    // Read it back into a fresh model: the same weights, hence the same outputs.
    tn::Model<example::ReferenceCnn> check{0, tn::Cpu{1}};
    (void)tn::load_onnx(check, std::filesystem::path(out));
    const auto x = mnist.test.images.to_host();
    const float* a = model.forward(x.data(), 1, false);
    std::vector<float> logits(a, a + 10);
    const float* b = check.forward(x.data(), 1, false);
    if (!std::equal(logits.begin(), logits.end(), b)) throw tn::IoError("mnist_onnx: the file read back gives other outputs");
    std::cout << "load_onnx read it back: identical outputs\n\ntypenet's logits for test image 0 (label "
              << mnist.test.labels[0] << "):";
    for (float v : logits) std::printf(" %.5f", double(v));
    const std::string images = std::filesystem::absolute(root / "mnist" / "t10k-images-idx3-ubyte").string();
    std::cout << "\n\nTo run it in ONNX Runtime (Node.js; the package ships its Linux, macOS and Windows libraries):\n"
              << "  npm install --ignore-scripts onnxruntime-node@1.30.0\n"
              << "  node -e \"const ort = require('onnxruntime-node'), fs = require('fs');\n"
              << "    const px = fs.readFileSync('" << images << "').subarray(16, 16 + 784);\n"
              << "    const x = new ort.Tensor('float32', Float32Array.from(px, v => v / 255), [1, 1, 28, 28]);\n"
              << "    ort.InferenceSession.create('" << out << "')\n"
              << "      .then(s => s.run({input: x})).then(r => console.log(Array.from(r.output.data, v => v.toFixed(5)).join(' ')));\"\n"
              << "or in Python (pip install onnxruntime numpy):\n"
              << "  python3 -c \"import onnxruntime as ort, numpy as np; "
              << "x = np.fromfile('" << images << "', np.uint8, 784, offset=16).reshape(1, 1, 28, 28).astype(np.float32) / 255; "
              << "print(ort.InferenceSession('" << out << "').run(None, {'input': x})[0])\"\n";
    return 0;
} catch (const tn::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
}
