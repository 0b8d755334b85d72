// mnist_cnn_inspect - looking inside the reference CNN once it has learnt MNIST.
//
// What: trains the reference articles' CNN (examples/reference_cnn.hpp) for
// one epoch by default (--epochs N), or loads its weights with --weights FILE
// (a safetensors file from typenet::save, e.g. an earlier run's --save), then
// writes into --out DIR (default inspect/):
//   digit.png                    the test digit the feature maps are computed for
//   feature_maps_conv{1,2,3}.png that digit's maps after each convolution (before ReLU)
//   filters_conv1.png            the 32 3x3 filters of the first convolution
//   confusion.png / .txt         the test-set confusion matrix (+ per-class accuracy in the .txt)
//   mistakes.png                 the 16 most confidently misclassified test digits
//   learning_curves.png / .csv   loss and accuracy per epoch, train (blue) and test (orange);
//                                only when it trained
//   max_activation_conv{1,2}.png inputs found by gradient ascent that most excite
//                                the first 16 maps of the first two convolutions
//                                (the first one's after its ReLU and max-pool; see below)
//   augmented.png                8 test digits (top row) and 7 augmented variants of each,
//                                as fit(..., {.augment = ...}) would train on them
// and lists the files it wrote.
// Why: the articles go on from training to asking what the network learnt;
// pictures answer that faster than numbers.
// Data: data/mnist from cmake/fetch_data.sh (or $TYPENET_DATA / --data).
#include "reference_cnn.hpp"

#include <typenet/train/inspect.hpp>
#include <typenet/viz/viz.hpp>

#include <fstream>
#include <iomanip>
#include <optional>
#include <sstream>
#if __has_include(<typenet/io/save_load.hpp>)
#include <typenet/io/save_load.hpp>
#define MNIST_INSPECT_CAN_LOAD 1
#endif

namespace tn = typenet;
namespace viz = typenet::viz;
using Model = tn::Model<example::ReferenceCnn>;

namespace {
std::vector<std::string> written;

void note(const std::filesystem::path& p, const std::string& what) {
    written.push_back(p.string() + "  - " + what);
}
void write_text(const std::filesystem::path& p, const std::string& text, const std::string& what) {
    std::ofstream out(p);
    out << text;
    if (!out) throw tn::IoError("mnist_cnn_inspect: could not write '" + p.string() + "'");
    note(p, what);
}

/// Gradient-ascent patterns for maps 0..count-1 of a layer, as one grid.
void max_activation_grid(Model& model, std::size_t layer, std::size_t count, const std::filesystem::path& p) {
    std::vector<viz::Image> tiles;
    std::ostringstream log;
    log << "mean activation before -> after gradient ascent, layer " << layer << " (" << Model::layer_names()[layer]
        << "):" << std::setprecision(2);
    for (std::size_t c = 0; c < count; ++c) {
        const auto pattern = viz::maximize_activation(model, layer, c, 100, 0.05);
        tiles.push_back(viz::pattern_image<Model>(pattern, 2));
        log << " " << c << ": " << pattern.before << "->" << pattern.after;
    }
    std::cout << log.str() << "\n";
    viz::grid(tiles).save_png(p);
    note(p, "inputs that maximise maps 0-" + std::to_string(count - 1) + " of layer " + std::to_string(layer));
}
/// The first 8 test digits in the top row, then 7 rows of augmented
/// variants: the settings examples/mnist_best trains with, plus a cutout.
void augmented_grid(const tn::Dataset& test, const std::filesystem::path& p) {
    constexpr std::size_t columns = 8, rows = 8, size = 28 * 28;
    const tn::Augmentation a{.max_shift = 2, .max_rotation = 10, .min_scale = 0.9f, .max_scale = 1.1f, .cutout = 8,
                             .cutout_probability = 0.5f};
    const tn::Cpu cpu{1};
    const std::span<const float> originals(test.images.data(), columns * size);
    std::vector<float> warped(columns * size);
    std::vector<viz::Image> tiles;
    for (std::size_t r = 0; r < rows; ++r) {
        if (r > 0) augment_images(cpu, columns, 1, 28, 28, originals.data(), warped.data(), a, /*seed=*/r);
        const std::span<const float> row = r == 0 ? originals : std::span<const float>(warped);
        for (std::size_t c = 0; c < columns; ++c)
            tiles.push_back(viz::upscale(viz::unit_image<float>(row.subspan(c * size, size), 28, 28), 2));
    }
    viz::grid(tiles, columns).save_png(p);
    note(p, "8 test digits (top row) and 7 augmented variants of each: shift 2 px, rotation 10 deg, "
            "scale 0.9-1.1, an 8x8 cutout on half of them, x2");
}
}  // namespace

int main(int argc, char** argv) try {
    // CPU only: the images are small and their gradient ascent runs batches of one.
    const example::Args args(
        argc, argv,
        "usage: mnist_cnn_inspect [--epochs N] [--weights FILE | --save FILE] [--out DIR] [--sample I] [--batch N] [--lr X]\n"
        "                         [--decay X] [--threads N] [--seed N] [--data DIR]\n"
        "  --epochs   epochs to train (default 1)\n"
        "  --weights  load these safetensors weights (typenet::save) instead of training\n"
        "  --save     after training, save the weights to this safetensors file\n"
        "  --out      output directory (default inspect/)\n"
        "  --sample   index of the test digit whose feature maps are drawn (default 0)\n"
        "  --batch, --lr, --decay  training settings of mnist_cnn (64, 0.001, 0.001)\n"
        "  --threads  CPU threads (default: all cores, or $TYPENET_THREADS)\n"
        "  --seed     seed of weight init and shuffling (default 42)\n"
        "  --data     directory holding mnist/ (default $TYPENET_DATA, else the source tree's data/)\n");
    const auto root = example::data_root(args);
    const tn::Split mnist = tn::load_mnist(root / "mnist");
    const std::filesystem::path out = args.get("--out", "inspect");
    std::filesystem::create_directories(out);

    const int threads = int(args.get_int("--threads", tn::Cpu::default_threads()));
    Model model{std::uint64_t(args.get_int("--seed", 42)), tn::Cpu{threads}};
    std::optional<tn::History> history;
    const std::string weights = args.get("--weights", "");
    if (!weights.empty()) {
#ifdef MNIST_INSPECT_CAN_LOAD
        tn::load(model, weights);
        std::cout << "loaded weights from " << weights << "\n";
#else
        args.fail("--weights needs typenet/io/save_load.hpp, which this build of typenet lacks");
#endif
    } else {
        // The settings of examples/mnist_cnn (RMSprop, lr 1e-3, decay 1e-3, batch 64).
        tn::RMSprop opt{{.learning_rate = args.get_double("--lr", 1e-3), .decay = args.get_double("--decay", 1e-3)}};
        history = tn::fit(model, opt, tn::SoftmaxCrossEntropy<10>{}, mnist.train,
                          {.epochs = std::size_t(args.get_int("--epochs", 1)),
                           .batch_size = std::size_t(args.get_int("--batch", 64)),
                           .validation = &mnist.test});
        if (const std::string save = args.get("--save", ""); !save.empty()) {
#ifdef MNIST_INSPECT_CAN_LOAD
            tn::save(model, save);
            note(save, "the trained weights (safetensors)");
#else
            args.fail("--save needs typenet/io/save_load.hpp, which this build of typenet lacks");
#endif
        }
    }

    // One test digit and what each convolution makes of it (layers 0, 3, 6).
    const auto sample_index = std::size_t(args.get_int("--sample", 0));
    const auto digit = mnist.test.sample(sample_index);
    viz::upscale(viz::unit_image<float>(digit, 28, 28), 4).save_png(out / "digit.png");
    note(out / "digit.png", "test digit " + std::to_string(sample_index) + " (label " +
                                std::to_string(mnist.test.labels[sample_index]) + "), x4");
    const std::pair<std::size_t, std::size_t> convs[] = {{0, 2}, {3, 4}, {6, 12}};  // layer, upscale
    for (std::size_t k = 0; k < 3; ++k) {
        const auto p = out / ("feature_maps_conv" + std::to_string(k + 1) + ".png");
        viz::feature_maps_png(model, digit, convs[k].first, p, convs[k].second);
        note(p, "the digit's maps after convolution " + std::to_string(k + 1) + " (layer " +
                    std::to_string(convs[k].first) + "), each stretched to 0-255");
    }
    augmented_grid(mnist.test, out / "augmented.png");
    viz::filters_png(model, out / "filters_conv1.png");
    note(out / "filters_conv1.png", "the 32 3x3 filters of the first convolution, x8");

    // Where it goes wrong.
    const auto cm = tn::confusion_matrix(model, mnist.test);
    const auto per_class = tn::per_class_accuracy(model, mnist.test);
    std::ostringstream text;
    text << cm.text() << "\naccuracy " << cm.accuracy() << "\nper class:";
    for (std::size_t k = 0; k < per_class.size(); ++k) text << " " << k << ":" << per_class[k];
    text << "\n";
    std::cout << text.str();
    viz::confusion_png(cm, out / "confusion.png");
    note(out / "confusion.png", "confusion matrix heat map (rows true, columns predicted)");
    write_text(out / "confusion.txt", text.str(), "confusion matrix and per-class accuracy as text");
    const auto mistakes = tn::most_confident_mistakes(model, mnist.test, 16);
    if (!mistakes.empty()) {
        viz::mistakes_png(mnist.test, mistakes, out / "mistakes.png", 2, 4);
        note(out / "mistakes.png", std::to_string(mistakes.size()) +
                                       " most confident mistakes: T = true label (green), P = predicted (red)");
    }
    if (history) {
        viz::learning_curves_png(*history, out / "learning_curves.png");
        note(out / "learning_curves.png", "loss and accuracy per epoch: train blue, test orange");
        write_text(out / "learning_curves.csv", history->to_csv(), "the same curves as CSV");
    }

    // What excites a map: 16 maps of each of the first two convolutions. The
    // mean of the first convolution's own map is linear in the input (the
    // kernel's sum times the mean pixel, borders aside), so its maximiser is a
    // flat white or black image; after ReLU and max-pooling (layer 2) each
    // window passes on only its strongest position, which makes the
    // objective non-linear and the answer a texture.
    max_activation_grid(model, 2, 16, out / "max_activation_conv1.png");
    max_activation_grid(model, 3, 16, out / "max_activation_conv2.png");

    std::cout << "\nwrote:\n";
    for (const auto& w : written) std::cout << "  " << w << "\n";
    return 0;
} catch (const typenet::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
}
