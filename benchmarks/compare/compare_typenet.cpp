// compare_typenet - the typenet side of the comparison with PyTorch.
//
// What: trains one reference network on real MNIST for N epochs and prints
// one JSON line per epoch (library, net, batch, epoch, seconds, test_accuracy,
// threads, device), the same fields as benchmarks/compare/torch_epoch.py, so
// run_compare.py can interleave the two and tabulate them.
// Settings match torch_epoch.py exactly: RMSprop lr 1e-3, rho 0.9, eps 1e-7,
// no decay (Keras' defaults), fused softmax cross-entropy (mean over the
// batch), a fresh shuffle per epoch, the dataset resident in memory. The
// seconds are fit's epoch time: the training loop only, not loading or
// evaluation (torch_epoch.py times the same span).
// --info prints the build's versions (compiler, BLAS and its kernel set) as
// one JSON line, for the results file's header.
#include "bench_nets.hpp"
#include "blas_info.hpp"

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#if defined(TYPENET_CUDA) && defined(__CUDACC__)
#define TYPENET_COMPARE_CUDA 1
#else
#define TYPENET_COMPARE_CUDA 0
#endif
#ifndef TYPENET_BENCH_VERSION
#define TYPENET_BENCH_VERSION "unknown"
#endif
#ifndef TYPENET_BENCH_BUILD_TYPE
#define TYPENET_BENCH_BUILD_TYPE "unknown"
#endif

namespace {

namespace tn = typenet;

const char* usage =
    "usage: compare_typenet --net cnn|mlp_small|mlp_wide --batch N [--epochs N] [--threads N] [--lr X]\n"
    "                       [--seed N] [--data DIR] [--device cpu|cuda]\n"
    "       compare_typenet --info\n"
    "  --net      cnn: the reference CNN; mlp_small: 784-70-30-10 sigmoid; mlp_wide: 784-512-10 ReLU\n"
    "  --batch    mini-batch size\n"
    "  --epochs   epochs to train (default 1)\n"
    "  --threads  CPU threads (default $TYPENET_THREADS, else 2)\n"
    "  --lr       RMSprop learning rate (default 0.001; rho 0.9, eps 1e-7, no decay)\n"
    "  --seed     seed of weight init and shuffling (default 42)\n"
    "  --data     directory holding the four MNIST IDX files (default $TYPENET_DATA/mnist, else the source\n"
    "             tree's data/mnist)\n"
    "  --device   cpu (default) or cuda (needs a CUDA build)\n"
    "  --info     print compiler, build type and BLAS (config, kernel set) as JSON and exit\n";

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out + "\"";
}

std::string compiler() {
    std::string s = "unknown";
#if defined(__clang__)
    s = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    s = std::string("GCC ") + __VERSION__;
#endif
#if defined(__CUDACC__)
    s += ", nvcc " + std::to_string(__CUDACC_VER_MAJOR__) + "." + std::to_string(__CUDACC_VER_MINOR__);
#endif
    return s;
}

int print_info() {
    const bench::BlasInfo b = bench::blas_info();
    std::cout << "{\"library\": \"typenet\", \"version\": " << json_string(TYPENET_BENCH_VERSION)
              << ", \"compiler\": " << json_string(compiler())
              << ", \"build_type\": " << json_string(TYPENET_BENCH_BUILD_TYPE)
              << ", \"blas\": " << json_string(b.vendor) << ", \"blas_config\": " << json_string(b.config)
              << ", \"blas_corename\": " << json_string(b.corename)
              << ", \"OPENBLAS_CORETYPE\": " << json_string(b.coretype_env)
              << ", \"cpu_backend\": " << json_string(tn::Cpu{}.description())
              << ", \"sgemm\": " << json_string(tn::cpu_detail::own_sgemm(tn::Cpu{}.isa()) ? "typenet" : "BLAS")
              << ", \"cuda\": " << (TYPENET_COMPARE_CUDA ? "true" : "false");
#if TYPENET_COMPARE_CUDA
    // The GPU's name, or why none can be used.
    const std::string why = tn::Cuda::unavailable_reason();
    std::cout << ", \"gpu\": " << json_string(why.empty() ? tn::Cuda{}.device_name() : "none: " + why);
#endif
    std::cout << "}\n";
    return 0;
}

struct Run {
    std::size_t batch, epochs;
    int threads;
    double lr;
    std::uint64_t seed;
    std::string net, device;
};

template <class Net, class B>
int train(const Run& r, const tn::Split& mnist, B backend) {
    tn::Model<Net, B> model{r.seed, std::move(backend)};
    tn::RMSprop opt{{.learning_rate = r.lr}};  // rho 0.9, epsilon 1e-7, decay 0: Keras' defaults
    const tn::SoftmaxCrossEntropy<10> loss;
    // One fit call per epoch, so each line is printed when its epoch ends;
    // the shuffles come from the model's generator either way.
    for (std::size_t epoch = 1; epoch <= r.epochs; ++epoch) {
        const auto h = tn::fit(model, opt, loss, mnist.train,
                               {.epochs = 1, .batch_size = r.batch, .validation = &mnist.test,
                                .verbose = tn::Verbosity::silent});
        const tn::EpochStats& s = h.epochs.back();
        char line[512];
        std::snprintf(line, sizeof line,
                      "{\"library\": \"typenet\", \"version\": \"%s\", \"net\": \"%s\", \"batch\": %zu, "
                      "\"epoch\": %zu, \"seconds\": %.6f, \"test_accuracy\": %.6f, \"train_loss\": %.6f, "
                      "\"threads\": %d, \"device\": \"%s\"}",
                      TYPENET_BENCH_VERSION, r.net.c_str(), r.batch, epoch, s.seconds, s.val_accuracy, s.loss,
                      r.threads, r.device.c_str());
        std::cout << line << std::endl;
    }
    return 0;
}

template <class B>
int train_net(const Run& r, const tn::Split& mnist, B backend) {
    if (r.net == "cnn") return train<bench::Cnn>(r, mnist, std::move(backend));
    if (r.net == "mlp_small") return train<bench::MlpSmall>(r, mnist, std::move(backend));
    return train<bench::MlpWide>(r, mnist, std::move(backend));
}

int run(const example::Args& args) {
    Run r;
    r.net = args.get("--net", "");
    if (r.net != "cnn" && r.net != "mlp_small" && r.net != "mlp_wide")
        args.fail("--net must be cnn, mlp_small or mlp_wide, got '" + r.net + "'");
    r.batch = std::size_t(args.get_int("--batch", 0));
    if (r.batch == 0) args.fail("--batch is required and must be at least 1");
    r.epochs = std::size_t(args.get_int("--epochs", 1));
    const char* env_threads = std::getenv("TYPENET_THREADS");
    r.threads = int(args.get_int("--threads", env_threads && std::atoi(env_threads) > 0 ? std::atoi(env_threads) : 2));
    if (r.threads < 1) args.fail("--threads must be at least 1");
    r.lr = args.get_double("--lr", 1e-3);
    r.seed = std::uint64_t(args.get_int("--seed", 42));
    r.device = args.get("--device", "cpu");
    const char* env_data = std::getenv("TYPENET_DATA");
    const std::filesystem::path dir =
        args.get("--data", (std::filesystem::path(env_data && *env_data ? env_data : TYPENET_EXAMPLE_DATA_DIR) / "mnist").string());

    if (r.device == "cuda") {
#if TYPENET_COMPARE_CUDA
        const tn::Split mnist = tn::load_mnist(dir);
        return train_net(r, mnist, tn::Cuda{});
#else
        std::cerr << "error: compare_typenet was built without the CUDA backend; configure with -DTYPENET_CUDA=ON "
                     "on a machine with nvcc, cuBLAS and cuDNN, rebuild, and run again\n";
        return 4;
#endif
    }
    if (r.device != "cpu") args.fail("--device must be cpu or cuda, got '" + r.device + "'");
    const tn::Split mnist = tn::load_mnist(dir);
    return train_net(r, mnist, tn::Cpu{r.threads});
}

}  // namespace

int main(int argc, char** argv) try {
    const example::Args args(argc, argv, usage);
    for (int i = 1; i < argc; ++i)
        if (std::string(argv[i]) == "--info") return print_info();
    return run(args);
} catch (const tn::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
}
