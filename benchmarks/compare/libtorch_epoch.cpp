// libtorch_epoch - the libtorch (PyTorch's C++ frontend) side of the comparison.
//
// What: benchmarks/compare/torch_epoch.py written against libtorch's C++ API,
// so the comparison has a PyTorch row without the Python interpreter's
// per-op overhead. It trains one reference network on real MNIST for N epochs
// and prints one JSON line per epoch with the same fields as torch_epoch.py
// (library "libtorch"), which run_compare.py parses.
//
// Mirrors torch_epoch.py step for step:
// - the same networks, built from the same modules in the same order, then
//   Glorot-uniform weights and zero biases (torch::manual_seed(42) first; the
//   C++ modules draw their default init from the same generator in the same
//   order, so the starting weights should be the Python run's);
// - torch::optim::RMSprop(lr 1e-3, alpha 0.9, eps 1e-7): libtorch's step is
//   adapted from torch/optim/rmsprop.py (eps added to sqrt(square_avg), as in
//   the Python runs);
// - gradients set to none before each step (zero_grad(set_to_none=True));
// - mean cross-entropy over the batch;
// - MNIST resident as one float tensor scaled to [0, 1] (N, 1, 28, 28) and one
//   int64 label tensor; batches gathered by advanced indexing (x[idx]);
// - the timed span: a fresh torch::randperm plus the epoch's training loop,
//   not loading and not evaluation; an optional warm-up (--warmup, default 0
//   on the CPU and 3 on a GPU, as torch_epoch.py) runs untimed steps for each
//   batch shape and then restores the weights and makes a fresh optimizer;
// - test accuracy on the 10,000 test images in chunks of 1000, in eval mode
//   without gradients.
// Threads: torch::set_num_threads(--threads); run_compare.py passes the same
// environment (OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS, and any
// --torch-env variant) as to the Python runs.
#include <torch/torch.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

const char* usage =
    "usage: libtorch_epoch --net cnn|mlp_small|mlp_wide --batch N [--epochs N] [--threads N] [--lr X]\n"
    "                      [--data DIR] [--device cpu|cuda] [--warmup N]\n"
    "       libtorch_epoch --info\n"
    "  --net      cnn: the reference CNN; mlp_small: 784-70-30-10 sigmoid; mlp_wide: 784-512-10 ReLU\n"
    "  --batch    mini-batch size\n"
    "  --epochs   epochs to train (default 1)\n"
    "  --threads  torch::set_num_threads (default 2)\n"
    "  --lr       RMSprop learning rate (default 0.001; alpha 0.9, eps 1e-7, no decay)\n"
    "  --data     directory holding the four MNIST IDX files (default $TYPENET_DATA/mnist, else data/mnist)\n"
    "  --device   cpu (default) or cuda (when this libtorch has CUDA)\n"
    "  --warmup   untimed steps per batch shape before epoch 1, weights and optimizer then reset\n"
    "             (default 0 on the CPU, 3 on a GPU: torch_epoch.py's defaults)\n"
    "  --info     print libtorch's version and build (JSON) and exit\n";

constexpr std::array<const char*, 4> kFiles = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

[[noreturn]] void usage_error(const std::string& msg) {
    std::cerr << "error: " << msg << "\n" << usage;
    std::exit(2);
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') out += "\\n";
        else if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out + "\"";
}

// An IDX file (big-endian header: two zero bytes, a type byte, the number of
// dimensions, then each dimension as uint32) as a uint8 tensor of its shape.
torch::Tensor read_idx(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open '" + path + "'");
    const std::vector<unsigned char> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (data.size() < 4 || data[0] != 0 || data[1] != 0 || data[2] != 0x08)
        throw std::runtime_error("'" + path + "' is not an IDX file of unsigned bytes");
    const std::size_t ndim = data[3];
    if (data.size() < 4 + 4 * ndim) throw std::runtime_error("'" + path + "' is truncated (header)");
    std::vector<int64_t> dims;
    std::size_t count = 1;
    for (std::size_t d = 0; d < ndim; ++d) {
        const unsigned char* b = &data[4 + 4 * d];
        const uint32_t v = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
        dims.push_back(int64_t(v));
        count *= v;
    }
    const std::size_t offset = 4 + 4 * ndim;
    if (data.size() - offset != count)
        throw std::runtime_error("'" + path + "' holds " + std::to_string(data.size() - offset) + " values, its header says " +
                                 std::to_string(count));
    torch::Tensor t = torch::empty(dims, torch::kUInt8);
    std::copy(data.begin() + std::ptrdiff_t(offset), data.end(), t.data_ptr<uint8_t>());
    return t;
}

struct Mnist {
    torch::Tensor xtr, ytr, xte, yte;
};

Mnist load_mnist(const std::string& root) {
    std::string missing;
    for (const char* f : kFiles)
        if (!std::ifstream(root + "/" + f)) missing += (missing.empty() ? "" : ", ") + std::string(f);
    if (!missing.empty())
        throw std::runtime_error("MNIST file(s) " + missing + " missing in '" + root +
                                 "'; run cmake/fetch_data.sh (or pass --data DIR holding the four IDX files)");
    // As torch_epoch.py: images .float().div_(255).unsqueeze(1), labels .long().
    const auto images = [&](const char* name) { return read_idx(root + "/" + name).to(torch::kFloat).div_(255.0).unsqueeze(1); };
    const auto labels = [&](const char* name) { return read_idx(root + "/" + name).to(torch::kLong); };
    return {images(kFiles[0]), labels(kFiles[1]), images(kFiles[2]), labels(kFiles[3])};
}

namespace nn = torch::nn;

nn::Sequential network(const std::string& name) {
    if (name == "cnn")
        return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 32, 3)), nn::ReLU(), nn::MaxPool2d(nn::MaxPool2dOptions(2)),
                              nn::Conv2d(nn::Conv2dOptions(32, 64, 3)), nn::ReLU(), nn::MaxPool2d(nn::MaxPool2dOptions(2)),
                              nn::Conv2d(nn::Conv2dOptions(64, 64, 3)), nn::ReLU(), nn::Flatten(),
                              nn::Linear(576, 70), nn::ReLU(), nn::Linear(70, 10));
    if (name == "mlp_small")
        return nn::Sequential(nn::Flatten(), nn::Linear(784, 70), nn::Sigmoid(), nn::Linear(70, 30), nn::Sigmoid(),
                              nn::Linear(30, 10));
    if (name == "mlp_wide")
        return nn::Sequential(nn::Flatten(), nn::Linear(784, 512), nn::ReLU(), nn::Linear(512, 10));
    usage_error("unknown network '" + name + "': use cnn, mlp_small or mlp_wide");
}

// Glorot-uniform weights and zero biases, as torch_epoch.py's keras_init.
void keras_init(nn::Sequential& model) {
    torch::NoGradGuard no_grad;
    for (const auto& m : model->modules(/*include_self=*/false)) {
        if (auto* l = m->as<nn::Linear>()) {
            nn::init::xavier_uniform_(l->weight);
            nn::init::zeros_(l->bias);
        } else if (auto* c = m->as<nn::Conv2d>()) {
            nn::init::xavier_uniform_(c->weight);
            nn::init::zeros_(c->bias);
        }
    }
}

struct Args {
    std::string net, data, device = "cpu";
    int64_t batch = 0, epochs = 1, warmup = -1;
    int threads = 2;
    double lr = 1e-3;
};

Args parse(int argc, char** argv) {
    Args a;
    const char* env_data = std::getenv("TYPENET_DATA");
    a.data = std::string(env_data && *env_data ? env_data : "data") + "/mnist";
    const auto value = [&](int& i) -> std::string {
        if (i + 1 >= argc) usage_error(std::string(argv[i]) + " needs a value");
        return argv[++i];
    };
    const auto integer = [&](int& i) -> int64_t {
        const std::string flag = argv[i], v = value(i);
        try {
            std::size_t end = 0;
            const long long n = std::stoll(v, &end);
            if (end == v.size()) return n;
        } catch (const std::exception&) {
        }
        usage_error(flag + " takes an integer, got '" + v + "'");
    };
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--net") a.net = value(i);
        else if (k == "--batch") a.batch = integer(i);
        else if (k == "--epochs") a.epochs = integer(i);
        else if (k == "--threads") a.threads = int(integer(i));
        else if (k == "--warmup") a.warmup = integer(i);
        else if (k == "--lr") a.lr = std::atof(value(i).c_str());
        else if (k == "--data") a.data = value(i);
        else if (k == "--device") a.device = value(i);
        else if (k == "--help" || k == "-h") {
            std::cout << usage;
            std::exit(0);
        } else usage_error("unknown option '" + k + "'");
    }
    if (a.net.empty()) usage_error("--net is required");
    if (a.batch < 1) usage_error("--batch is required and must be at least 1");
    if (a.epochs < 1 || a.threads < 1) usage_error("--epochs and --threads must be at least 1");
    if (a.lr <= 0) usage_error("--lr must be positive");
    if (a.device != "cpu" && a.device != "cuda") usage_error("--device must be cpu or cuda, got '" + a.device + "'");
    return a;
}

int print_info() {
    std::ostringstream cfg;
    cfg << "{\"library\": \"libtorch\", \"version\": " << json_string(TORCH_VERSION)
#if defined(__clang__)
        << ", \"compiler\": " << json_string(std::string("clang ") + __clang_version__)
#elif defined(__GNUC__)
        << ", \"compiler\": " << json_string(std::string("GCC ") + __VERSION__)
#endif
        << ", \"cuda\": " << (torch::cuda::is_available() ? "true" : "false")
        << ", \"parallel\": " << json_string(at::get_parallel_info()) << "}";
    std::cout << cfg.str() << std::endl;
    return 0;
}

int run(const Args& a) {
    torch::set_num_threads(a.threads);
    torch::manual_seed(42);
    if (a.device == "cuda" && !torch::cuda::is_available()) {
        std::cerr << "error: this libtorch sees no GPU (built without CUDA, or no device)\n";
        return 4;
    }
    const torch::Device dev(a.device == "cuda" ? torch::kCUDA : torch::kCPU);
    if (dev.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
    Mnist d = load_mnist(a.data);
    const torch::Tensor xtr = d.xtr.to(dev), ytr = d.ytr.to(dev), xte = d.xte.to(dev), yte = d.yte.to(dev);

    nn::Sequential model = network(a.net);
    keras_init(model);
    model->to(dev);

    const auto make_optimizer = [&] {
        return std::make_unique<torch::optim::RMSprop>(
            model->parameters(), torch::optim::RMSpropOptions(a.lr).alpha(0.9).eps(1e-7));
    };
    auto opt = make_optimizer();
    const int64_t n = xtr.size(0);

    const auto step = [&](const torch::Tensor& x, const torch::Tensor& y) {
        for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();  // zero_grad(set_to_none=True)
        torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
        loss.backward();
        opt->step();
    };
    const auto sync = [&] {
        if (dev.is_cuda()) torch::cuda::synchronize();
    };

    // Warm-up outside the timed epoch, as torch_epoch.py (0 steps on the CPU by default).
    const int64_t warmup = a.warmup >= 0 ? a.warmup : (dev.is_cuda() ? 3 : 0);
    if (warmup > 0) {
        std::vector<torch::Tensor> saved;
        {
            torch::NoGradGuard no_grad;
            for (const auto& p : model->parameters()) saved.push_back(p.detach().clone());
        }
        const std::set<int64_t> shapes = {a.batch, n % a.batch ? n % a.batch : a.batch};
        for (const int64_t b : shapes)
            for (int64_t i = 0; i < warmup; ++i) step(xtr.slice(0, 0, b), ytr.slice(0, 0, b));
        sync();
        torch::NoGradGuard no_grad;
        auto params = model->parameters();
        for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);
        opt = make_optimizer();
    }

    for (int64_t epoch = 1; epoch <= a.epochs; ++epoch) {
        model->train();
        sync();
        const auto t0 = std::chrono::steady_clock::now();
        const torch::Tensor perm = torch::randperm(n, torch::TensorOptions().dtype(torch::kLong).device(dev));
        for (int64_t first = 0; first < n; first += a.batch) {
            const torch::Tensor idx = perm.slice(0, first, std::min(first + a.batch, n));
            step(xtr.index({idx}), ytr.index({idx}));
        }
        sync();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        model->eval();
        int64_t correct = 0;
        {
            torch::NoGradGuard no_grad;
            for (int64_t i = 0; i < xte.size(0); i += 1000) {
                const int64_t e = std::min(i + 1000, xte.size(0));
                correct += model->forward(xte.slice(0, i, e)).argmax(1).eq(yte.slice(0, i, e)).sum().item<int64_t>();
            }
        }
        char line[768];
        std::snprintf(line, sizeof line,
                      "{\"library\": \"libtorch\", \"version\": \"%s\", \"net\": \"%s\", \"batch\": %lld, "
                      "\"epoch\": %lld, \"seconds\": %.6f, \"test_accuracy\": %.6f, \"threads\": %d, "
                      "\"device\": \"%s\", \"variant\": \"eager\", \"warmup_steps\": %lld}",
                      TORCH_VERSION, a.net.c_str(), static_cast<long long>(a.batch), static_cast<long long>(epoch),
                      seconds, double(correct) / double(xte.size(0)), torch::get_num_threads(), a.device.c_str(),
                      static_cast<long long>(warmup));
        std::cout << line << std::endl;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) try {
    for (int i = 1; i < argc; ++i)
        if (std::string(argv[i]) == "--info") return print_info();
    return run(parse(argc, argv));
} catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
}
