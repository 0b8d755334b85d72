// Tests of io/save_load.hpp, io/checkpoint.hpp, io/snapshot.hpp and
// io/atomic_file.hpp: round trips, mismatch reports, interrupted saves, and a
// resumed fit equal bit for bit to an uninterrupted one.
#include <typenet/typenet.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <sys/resource.h>

#include "io_test_util.hpp"

namespace tn = typenet;
namespace fs = std::filesystem;
using io_test::expect_io_error;
using io_test::read_raw;
using io_test::TempDir;

namespace {
using Mlp = tn::Sequential<tn::Input<784>, tn::Dense<70>, tn::Sigmoid, tn::Dense<30>, tn::Sigmoid, tn::Dense<10>>;
// A CNN with both BatchNorm kinds (running statistics) and Dropout (draws from the Rng).
using BnCnn = tn::Sequential<tn::Input<1, 12, 12>, tn::Conv2D<4, 3>, tn::BatchNorm, tn::ReLU, tn::MaxPool2D<2>, tn::Flatten,
                             tn::Dense<16>, tn::BatchNorm, tn::ReLU, tn::Dropout<0.25>, tn::Dense<3>>;

// Three classes of 12x12 images: a bright row, column or diagonal plus noise.
template <class T = float>
tn::BasicDataset<T> toy_images(std::size_t n, std::uint64_t seed) {
    tn::BasicDataset<T> d;
    d.name = "toy images";
    d.classes = 3;
    d.images.resize(tn::Dims{n, 1, 12, 12});
    d.labels.resize(n);
    tn::Rng rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const int c = int(i % 3), k = 2 + int(rng.below(8));
        d.labels[i] = c;
        for (int y = 0; y < 12; ++y)
            for (int x = 0; x < 12; ++x) {
                const bool on = (c == 0 && y == k) || (c == 1 && x == k) || (c == 2 && x == y);
                d.images[i * 144 + std::size_t(y * 12 + x)] = T((on ? 0.8 : 0.0) + rng.uniform(0.0, 0.2));
            }
    }
    return d;
}

tn::FitOptions quiet(std::size_t epochs) {
    return {.epochs = epochs, .batch_size = 16, .verbose = tn::Verbosity::silent};
}

template <class M>
void expect_same_state(M& a, M& b) {
    EXPECT_EQ(a.parameters().to_host(), b.parameters().to_host());
    EXPECT_EQ(a.buffers().to_host(), b.buffers().to_host());
}
}  // namespace

TEST(SaveLoad, VersionMatchesTheCMakeProject) { EXPECT_EQ(tn::version, TYPENET_PROJECT_VERSION); }

TEST(SaveLoad, FloatAndDoubleMlpRoundTripExactly) {
    TempDir dir;
    tn::Model<Mlp> a{1}, b{2};
    tn::save(a, dir / "f.safetensors");
    tn::load(b, dir / "f.safetensors");
    EXPECT_EQ(a.parameters().to_host(), b.parameters().to_host());

    tn::Model<Mlp, tn::Cpu, double> c{3}, d{4};
    tn::save(c, dir / "d.safetensors");
    EXPECT_EQ(tn::SafetensorsReader(dir / "d.safetensors").at("0.weight").dtype, tn::Dtype::F64);
    EXPECT_EQ(tn::SafetensorsReader(dir / "f.safetensors").at("0.weight").dtype, tn::Dtype::F32);
    tn::load(d, dir / "d.safetensors");
    EXPECT_EQ(c.parameters().to_host(), d.parameters().to_host());

    tn::load(d, dir / "f.safetensors");  // float file into a double model: exact widening
    const auto fa = a.parameters().to_host();
    const auto dd = d.parameters().to_host();
    for (std::size_t i = 0; i < fa.size(); ++i) ASSERT_EQ(double(fa[i]), dd[i]);
}

TEST(SaveLoad, CnnWithBatchNormKeepsNamesShapesBuffersAndOutputs) {
    TempDir dir;
    const auto data = toy_images(48, 1);
    tn::Model<BnCnn> a{5, tn::Cpu{1}}, b{6, tn::Cpu{1}};
    tn::RMSprop opt;
    tn::fit(a, opt, tn::SoftmaxCrossEntropy{}, data, quiet(1));  // running statistics move away from 0 / 1
    tn::save(a, dir / "cnn.safetensors");

    const tn::SafetensorsReader r(dir / "cnn.safetensors");
    std::vector<std::string> names;
    for (const auto& t : r.tensors()) names.push_back(t.name);
    EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias", "6.weight",
                                               "6.bias", "9.weight", "9.bias", "1.running_mean", "1.running_var",
                                               "6.running_mean", "6.running_var"}));
    EXPECT_EQ(r.at("0.weight").shape, (std::vector<std::uint64_t>{4, 1, 3, 3}));
    EXPECT_EQ(r.at("5.weight").shape, (std::vector<std::uint64_t>{16, 100}));
    EXPECT_EQ(r.metadata().at("typenet.version"), std::string(tn::version));
    EXPECT_NE(r.metadata().at("typenet.network").find("Input<1, 12, 12>, Conv2D<4, 3>, BatchNorm2D"), std::string::npos);

    tn::load(b, dir / "cnn.safetensors");
    expect_same_state(a, b);
    const float* ya = a.forward(data.images.data(), 8, false);
    const std::vector<float> out(ya, ya + 8 * 3);
    const float* yb = b.forward(data.images.data(), 8, false);
    EXPECT_EQ(out, std::vector<float>(yb, yb + 8 * 3));
}

TEST(SaveLoad, LoadIntoAnotherNetworkListsEveryMismatchAndChangesNothing) {
    TempDir dir;
    tn::save(tn::Model<Mlp>{1}, dir / "mlp.safetensors");
    using Other = tn::Sequential<tn::Input<784>, tn::Dense<70>, tn::Sigmoid, tn::Dense<32>, tn::Tanh, tn::Dropout<0.5>, tn::Dense<10>>;
    tn::Model<Other> m{2};
    const auto before = m.parameters().to_host();
    expect_io_error([&] { tn::load(m, dir / "mlp.safetensors"); },
                    {"load('" + (dir / "mlp.safetensors").string() + "')", "does not match the network Input<784>, Dense<70>",
                     "(6 problems)", "tensor '2.weight' has shape (30, 70) but the network expects (32, 70)",
                     "tensor '2.bias' has shape (30) but the network expects (32)",
                     "missing tensor '5.weight' (the network expects shape (10, 32))", "missing tensor '5.bias'",
                     "unexpected tensor '4.weight' (shape (10, 30), F32)", "unexpected tensor '4.bias'"});
    EXPECT_EQ(m.parameters().to_host(), before);

    // A tensor of a non-float dtype.
    tn::Model<Mlp> src{1};
    const auto p = src.parameters().to_host();
    tn::SafetensorsWriter w;
    for (const auto& s : src.segments()) {
        if (s.name == "0.bias") w.add<std::int32_t>(s.name, {s.size}, std::vector<std::int32_t>(s.size));
        else w.add<float>(s.name, tn::io_detail::shape_of(s.dims), std::span<const float>(p).subspan(s.offset, s.size));
    }
    w.write(dir / "int.safetensors");
    tn::Model<Mlp> dst{2};
    expect_io_error([&] { tn::load(dst, dir / "int.safetensors"); },
                    {"(1 problem)", "tensor '0.bias' has dtype I32 but typenet reads weights as F32, F64, F16 or BF16"});
}

TEST(SaveLoad, LoadsFromAReaderOnBytesInMemory) {
    TempDir dir;
    tn::Model<Mlp> a{1}, b{2};
    tn::RMSprop opt;
    a.optimizer_state().claim(tn::RMSprop::name, tn::RMSprop::state_slots);  // as after 5 RMSprop steps
    a.optimizer_state().set_step(5);
    tn::save_checkpoint(dir / "c.ckpt", a, opt, 3);
    const std::string file = read_raw(dir / "c.ckpt");
    std::vector<std::byte> bytes(file.size());
    std::memcpy(bytes.data(), file.data(), file.size());
    const tn::SafetensorsReader r(std::move(bytes), "checkpoint in memory");

    tn::load(b, r);
    EXPECT_EQ(a.parameters().to_host(), b.parameters().to_host());
    tn::RMSprop opt_b;
    EXPECT_EQ(tn::load_checkpoint(r, b, opt_b), 3u);
    EXPECT_EQ(b.optimizer_state().step(), 5u);
    tn::Model<BnCnn> other{3};
    expect_io_error([&] { tn::load(other, r); }, {"load('checkpoint in memory')", "missing tensor '1.running_mean'"});
}

TEST(SaveLoad, IgnoresPyTorchsBatchNormCounterButNotOtherExtras) {
    TempDir dir;
    tn::Model<BnCnn> a{1};
    const auto p = a.parameters().to_host(), b = a.buffers().to_host();
    auto write = [&](const std::string& extra) {
        tn::SafetensorsWriter w;
        for (const auto& s : a.segments()) w.add<float>(s.name, tn::io_detail::shape_of(s.dims), std::span<const float>(p).subspan(s.offset, s.size));
        for (const auto& s : a.buffer_segments()) w.add<float>(s.name, tn::io_detail::shape_of(s.dims), std::span<const float>(b).subspan(s.offset, s.size));
        w.add<std::int64_t>(extra, {}, std::vector<std::int64_t>{7});
        w.write(dir / "t.safetensors");
    };
    tn::Model<BnCnn> m{2};
    write("1.num_batches_tracked");  // layer 1 is a BatchNorm: PyTorch's counter, ignored
    tn::load(m, dir / "t.safetensors");
    expect_same_state(a, m);
    write("0.num_batches_tracked");  // layer 0 is a Conv2D: not a BatchNorm counter
    expect_io_error([&] { tn::load(m, dir / "t.safetensors"); }, {"unexpected tensor '0.num_batches_tracked'"});
}

TEST(AtomicSave, AFailureBeforeTheRenameLeavesTheOldFileAndNoTemporary) {
    TempDir dir;
    const fs::path file = dir / "m.safetensors";
    tn::save(tn::Model<Mlp>{1}, file);
    const std::string old = read_raw(file);
    tn::detail::atomic_write_before_rename_hook = [](const fs::path& tmp) {
        EXPECT_TRUE(fs::exists(tmp));
        throw std::runtime_error("simulated failure");
    };
    EXPECT_THROW(tn::save(tn::Model<Mlp>{2}, file), std::runtime_error);
    tn::detail::atomic_write_before_rename_hook = nullptr;
    EXPECT_EQ(read_raw(file), old);
    EXPECT_EQ(dir.files(), std::vector<std::string>{"m.safetensors"});
}

TEST(AtomicSave, ReplacingAFileKeepsItsPermissions) {
    TempDir dir;
    const fs::path file = dir / "m.safetensors";
    tn::save(tn::Model<Mlp>{1}, file);
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
    tn::save(tn::Model<Mlp>{2}, file);
    EXPECT_EQ(fs::status(file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

TEST(AtomicSave, ACrashBeforeTheRenameLeavesTheOldFileIntact) {
    TempDir dir;
    const fs::path file = dir / "m.safetensors";
    tn::Model<Mlp> a{1, tn::Cpu{1}}, b{2, tn::Cpu{1}};
    tn::save(a, file);
    const std::string old = read_raw(file);
    // The child process dies between writing the temporary file and renaming it.
    EXPECT_EXIT(
        {
            tn::detail::atomic_write_before_rename_hook = [](const fs::path&) { std::_Exit(3); };
            tn::save(b, file);
        },
        ::testing::ExitedWithCode(3), "");
    EXPECT_EQ(read_raw(file), old);
    tn::Model<Mlp> c{9, tn::Cpu{1}};
    tn::load(c, file);
    EXPECT_EQ(a.parameters().to_host(), c.parameters().to_host());
    const auto files = dir.files();
    ASSERT_EQ(files.size(), 2u) << "the killed save leaves its temporary file next to the intact one";
    EXPECT_TRUE(files[0].starts_with("m.safetensors.tmp-") || files[1].starts_with("m.safetensors.tmp-"));
}

TEST(AtomicSave, AFailedWriteReportsItAndKeepsTheOldFile) {
    TempDir dir;
    const fs::path file = dir / "m.safetensors";
    tn::save(tn::Model<Mlp>{1}, file);
    const std::string old = read_raw(file);
    // A file-size limit makes write() fail part way, as a full disk would.
    rlimit saved{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
    const auto previous = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = saved;
    small.rlim_cur = 4096;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    expect_io_error([&] { tn::save(tn::Model<Mlp>{2}, file); },
                    {"save('" + file.string() + "')", "writing the temporary file", "free disk space", "was not changed"});
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, previous);
    EXPECT_EQ(read_raw(file), old);
    EXPECT_EQ(dir.files(), std::vector<std::string>{"m.safetensors"});

    expect_io_error([&] { tn::save(tn::Model<Mlp>{1}, dir / "no" / "such" / "dir.safetensors"); },
                    {"could not create the temporary file", "check that the directory exists"});
    expect_io_error([&] { tn::save(tn::Model<Mlp>{1}, dir.path()); }, {"is a directory"});
}

TEST(Checkpoint, ResumedFitEqualsUninterruptedFitBitForBit) {
    TempDir dir;
    const auto data = toy_images(96, 3);
    const tn::SoftmaxCrossEntropy loss;
    tn::Model<BnCnn> full{7, tn::Cpu{1}};
    tn::Adam opt_full{{.learning_rate = 0.01}};
    tn::fit(full, opt_full, loss, data, quiet(3));

    auto opts = quiet(2);
    opts.checkpoint_path = dir / "run.ckpt";
    opts.checkpoint_every = 2;
    tn::Model<BnCnn> first{7, tn::Cpu{1}};
    tn::Adam opt_first{{.learning_rate = 0.01}};
    tn::fit(first, opt_first, loss, data, opts);
    ASSERT_TRUE(fs::exists(opts.checkpoint_path));

    // A new process would start from scratch: other seed, new optimizer.
    tn::Model<BnCnn> resumed{99, tn::Cpu{1}};
    tn::Adam opt_resumed{{.learning_rate = 0.01}};
    opts.epochs = 3;
    opts.resume = true;
    const auto h = tn::fit(resumed, opt_resumed, loss, data, opts);
    ASSERT_EQ(h.epochs.size(), 1u);
    EXPECT_EQ(h.epochs[0].epoch, 3u);
    expect_same_state(full, resumed);
    EXPECT_EQ(resumed.optimizer_state().step(), full.optimizer_state().step());
    EXPECT_EQ(full.rng().state(), resumed.rng().state());

    // Resuming a finished run trains nothing more.
    opts.epochs = 2;
    EXPECT_TRUE(tn::fit(resumed, opt_resumed, loss, data, opts).epochs.empty());
}

TEST(Checkpoint, SavesAndRestoresEveryPartAndChecksTheOptimizer) {
    TempDir dir;
    const auto data = toy_images(48, 4);
    tn::Model<BnCnn> a{1, tn::Cpu{1}};
    tn::RMSprop opt;
    tn::fit(a, opt, tn::SoftmaxCrossEntropy{}, data, quiet(1));
    tn::save_checkpoint(dir / "c.ckpt", a, opt, 1);

    tn::Model<BnCnn> b{2, tn::Cpu{1}};
    tn::RMSprop opt_b;
    EXPECT_EQ(tn::load_checkpoint(dir / "c.ckpt", b, opt_b), 1u);
    expect_same_state(a, b);
    EXPECT_EQ(b.optimizer_state().step(), a.optimizer_state().step());
    EXPECT_EQ(b.rng().state(), a.rng().state());
    EXPECT_EQ(b.optimizer_state().owner(), "RMSprop");
    EXPECT_EQ(b.optimizer_state().moments().to_host(), a.optimizer_state().moments().to_host());

    tn::Model<BnCnn> c{3};
    tn::load(c, dir / "c.ckpt");  // a checkpoint is also a weights file
    expect_same_state(a, c);

    tn::SGD sgd;
    expect_io_error([&] { tn::load_checkpoint(dir / "c.ckpt", c, sgd); },
                    {"written with the optimizer RMSprop but is resumed with SGD", "and the optimizer SGD"});
    tn::save(a, dir / "w.safetensors");
    expect_io_error([&] { tn::load_checkpoint(dir / "w.safetensors", c, opt_b); },
                    {"metadata \"typenet.checkpoint.epoch\" is missing", "missing tensor '__typenet__.rng_state'"});
    EXPECT_THROW(tn::fit(c, opt_b, tn::SoftmaxCrossEntropy{}, data, {.checkpoint_every = 1}), tn::ArgumentError);
}

TEST(Snapshot, RestoreResetsToInitialWeightsAndRetrainsIdentically) {
    const auto data = toy_images(48, 5);
    tn::Model<BnCnn> m{11, tn::Cpu{1}};
    const auto initial = tn::snapshot(m);
    auto train = [&] {
        tn::Adam opt{{.learning_rate = 0.01}};
        tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, data, quiet(2));
        return std::pair(m.parameters().to_host(), m.buffers().to_host());
    };
    const auto first = train();
    EXPECT_NE(first.first, initial.parameters);
    tn::restore(m, initial);
    EXPECT_EQ(m.parameters().to_host(), initial.parameters);
    EXPECT_EQ(m.optimizer_state().slots(), 0u) << "optimizer arrays start fresh";
    EXPECT_EQ(m.optimizer_state().step(), 0u) << "and so does the step count";
    EXPECT_EQ(train(), first);
}
