// tests/test_data.cpp - IDX reader/writer, MNIST-style loading and dataset
// transforms. Uses only small files the tests write; never downloaded data.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "typenet/data/idx.hpp"
#include "typenet/data/mnist.hpp"
#include "typenet/data/transform.hpp"

namespace fs = std::filesystem;
using namespace typenet;
using Bytes = std::vector<std::uint8_t>;

namespace {

// A fresh directory per test, removed afterwards.
struct TempDir {
    fs::path path;
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path = fs::temp_directory_path() /
               ("typenet_test_data_" + std::string(info->name()) + "_" + std::to_string(std::random_device{}()));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fs::path operator/(const std::string& name) const { return path / name; }
};

void write_raw(const fs::path& p, const Bytes& bytes) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                             static_cast<std::streamsize>(bytes.size()));
}

// Asserts that f throws E and that the message contains every part.
template <class E = DataError>
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
    try {
        f();
        ADD_FAILURE() << "no exception was thrown";
    } catch (const E& e) {
        const std::string msg = e.what();
        for (const auto& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
    } catch (const std::exception& e) {
        ADD_FAILURE() << "wrong exception type: " << e.what();
    }
}

// Checks the file reader and the in-memory one, which must reject the same
// bytes with the same message, each naming what it read.
void expect_idx_error(const TempDir& dir, const Bytes& contents, std::initializer_list<std::string> parts) {
    const fs::path p = dir / "bad.idx";
    write_raw(p, contents);
    for (const fs::path& name : {p, fs::path("in memory")}) {
        std::vector<std::string> all(parts);
        all.push_back("IDX file '" + name.string() + "'");
        try {
            if (name == p) read_idx(p);
            else read_idx(contents, name);
            ADD_FAILURE() << "no exception was thrown for " << name;
        } catch (const DataError& e) {
            const std::string msg = e.what();
            for (const auto& part : all) EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
        }
    }
}

Bytes iota_bytes(std::size_t n, std::uint8_t start = 0) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(start + i);
    return b;
}

// Writes the four standard files with n_train / n_test images of h x w.
void write_idx_set(const fs::path& dir, std::uint32_t n_train, std::uint32_t n_test, std::uint32_t h = 28,
                   std::uint32_t w = 28) {
    fs::create_directories(dir);
    auto labels = [](std::uint32_t n) {
        Bytes b(n);
        for (std::uint32_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i % 10);
        return b;
    };
    write_idx(dir / "train-images-idx3-ubyte", {n_train, h, w}, iota_bytes(std::size_t{n_train} * h * w));
    write_idx(dir / "train-labels-idx1-ubyte", {n_train}, labels(n_train));
    write_idx(dir / "t10k-images-idx3-ubyte", {n_test, h, w}, iota_bytes(std::size_t{n_test} * h * w, 7));
    write_idx(dir / "t10k-labels-idx1-ubyte", {n_test}, labels(n_test));
}

Dataset make_dataset(const std::vector<float>& values, std::size_t n) {
    Dataset ds;
    ds.images.resize(Dims{n, values.size() / n});
    ds.images.from_host(values);
    for (std::size_t i = 0; i < n; ++i) ds.labels.push_back(static_cast<std::int32_t>(i % 3));
    ds.classes = 3;
    ds.name = "toy";
    return ds;
}

}  // namespace

TEST(Idx, RoundTripAndAtomicOverwrite) {
    TempDir dir;
    const fs::path p = dir / "a.idx";
    write_idx(p, {3, 2, 4}, iota_bytes(24));
    IdxArray a = read_idx(p);
    EXPECT_EQ(a.dims, (std::vector<std::uint32_t>{3, 2, 4}));
    EXPECT_EQ(a.data, iota_bytes(24));
    write_idx(p, {300}, iota_bytes(300, 9));  // overwrite; dims > 255 test big-endian bytes
    a = read_idx(p);
    EXPECT_EQ(a.dims, (std::vector<std::uint32_t>{300}));
    EXPECT_EQ(a.data, iota_bytes(300, 9));
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}), 1) << "temp file left";

    std::ifstream in(p, std::ios::binary);
    const Bytes file{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const IdxArray m = read_idx(file, "in memory");
    EXPECT_EQ(m.dims, a.dims);
    EXPECT_EQ(m.data, a.data);
}

TEST(Idx, WriteRejectsBadArguments) {
    TempDir dir;
    expect_error<ArgumentError>([&] { write_idx(dir / "x", {2, 3}, iota_bytes(5)); }, {"6 bytes", "5 were given"});
    expect_error<ArgumentError>([&] { write_idx(dir / "x", {}, {}); }, {"1 to 4 dimensions"});
    expect_error<ArgumentError>([&] { write_idx(dir / "x", {2, 0}, {}); }, {"positive"});
}

TEST(Idx, MalformedFilesNameTheFileAndTheProblem) {
    TempDir dir;
    expect_idx_error(dir, {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5}, {"truncated", "should be 18 bytes", "17"});
    expect_idx_error(dir, {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7}, {"1 trailing bytes", "19"});
    expect_idx_error(dir, {1, 0, 8, 1, 0, 0, 0, 1, 5}, {"magic number", "0x01 0x00"});
    expect_idx_error(dir, {0x1F, 0x8B, 8, 0, 0}, {"gzip", "gunzip"});
    expect_idx_error(dir, {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0}, {"element type 0x0D", "float32", "0x08"});
    expect_idx_error(dir, {0, 0, 8, 0, 1, 2}, {"declares 0 dimensions", "1 to 4"});
    Bytes five{0, 0, 8, 5};
    for (int i = 0; i < 5; ++i) five.insert(five.end(), {0, 0, 0, 1});
    five.push_back(42);
    expect_idx_error(dir, five, {"declares 5 dimensions"});
    expect_idx_error(dir, {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 0}, {"dimension 1 equal to 0"});
    expect_idx_error(dir, {0, 0, 8, 3, 0, 0, 0, 1, 0, 0}, {"incomplete header", "16-byte header", "10 bytes"});
    expect_idx_error(dir, {}, {"empty"});
    expect_idx_error(dir, {0, 0, 8}, {"too short", "3 bytes"});
}

TEST(Idx, LyingHeaderDoesNotAllocate) {
    TempDir dir;
    // 2^32-1 squared fits in 64 bits: reported as truncated without allocating ~16 EiB.
    expect_idx_error(dir, {0, 0, 8, 2, 255, 255, 255, 255, 255, 255, 255, 255, 1}, {"truncated"});
    Bytes four(4 + 4 * 4, 255);  // header, then four dimensions of 2^32-1
    four[0] = 0, four[1] = 0, four[2] = 8, four[3] = 4;
    expect_idx_error(dir, four, {"overflow"});
}

TEST(Idx, MissingFileAndDirectory) {
    TempDir dir;
    expect_error([&] { read_idx(dir / "nope.idx"); }, {"nope.idx", "does not exist", "cmake/fetch_data.sh"});
    expect_error([&] { read_idx(dir.path); }, {dir.path.string(), "is a directory"});
}

TEST(LoadIdxDataset, ShapesScalingAndLabels) {
    TempDir dir;
    write_idx(dir / "img", {3, 2, 2}, Bytes{0, 255, 51, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    write_idx(dir / "lab", {3}, Bytes{9, 0, 4});
    const Dataset ds = load_idx_dataset(dir / "img", dir / "lab", 10, "toy");
    EXPECT_EQ(ds.images.dims(), (Dims{3, 1, 2, 2}));
    EXPECT_EQ(ds.images[0], 0.0f);
    EXPECT_EQ(ds.images[1], 1.0f);
    EXPECT_FLOAT_EQ(ds.images[2], 0.2f);
    EXPECT_EQ(ds.labels, (std::vector<std::int32_t>{9, 0, 4}));
    EXPECT_EQ(ds.classes, 10u);
    EXPECT_EQ(ds.name, "toy");

    write_idx(dir / "flat", {3, 4}, iota_bytes(12));
    const auto flat = load_idx_dataset<double>(dir / "flat", dir / "lab", 10, "flat");
    EXPECT_EQ(flat.images.dims(), (Dims{3, 4}));
    EXPECT_EQ(flat.images[5], 5.0 / 255.0);
}

TEST(LoadIdxDataset, RejectsInconsistentFiles) {
    TempDir dir;
    write_idx(dir / "img", {3, 2, 2}, iota_bytes(12));
    write_idx(dir / "lab", {3}, Bytes{1, 12, 3});
    expect_error([&] { load_idx_dataset(dir / "img", dir / "lab", 10, "toy"); },
                 {(dir / "lab").string(), "label 12", "index 1"});
    write_idx(dir / "lab4", {4}, Bytes{1, 2, 3, 4});
    expect_error([&] { load_idx_dataset(dir / "img", dir / "lab4", 10, "toy"); },
                 {(dir / "img").string(), (dir / "lab4").string(), "3 images", "4 labels"});
    expect_error([&] { load_idx_dataset(dir / "lab", dir / "img", 10, "toy"); }, {"swapped"});
}

TEST(LoadMnist, SyntheticFilesFromDirOrDataRoot) {
    TempDir dir;
    write_idx_set(dir / "mnist", 20, 10);
    for (const fs::path& where : {dir / "mnist", dir.path}) {
        const Split s = load_mnist(where);
        EXPECT_EQ(s.train.images.dims(), (Dims{20, 1, 28, 28}));
        EXPECT_EQ(s.test.images.dims(), (Dims{10, 1, 28, 28}));
        ASSERT_EQ(s.train.size(), 20u);
        EXPECT_EQ(s.train.labels[13], 3);
        EXPECT_EQ(s.test.classes, 10u);
        EXPECT_EQ(s.test.images[0], 7.0f / 255.0f);
        EXPECT_EQ(s.train.name, "MNIST train");
    }
    fs::rename(dir / "mnist", dir / "fashion-mnist");
    EXPECT_EQ(load_fashion_mnist(dir.path).test.name, "Fashion-MNIST test");
}

TEST(LoadMnist, MissingOrWrongFilesSayWhatToDo) {
    TempDir dir;
    const std::string hint = "run cmake/fetch_data.sh (or set TYPENET_DATA to the directory holding mnist/ and fashion-mnist/)";
    expect_error([&] { load_mnist(dir / "absent"); }, {(dir / "absent").string(), "does not exist", hint});
    write_idx_set(dir / "m", 2, 2);
    fs::remove(dir / "m" / "t10k-labels-idx1-ubyte");
    expect_error([&] { load_mnist(dir / "m"); }, {"t10k-labels-idx1-ubyte", "missing", hint});
    write_raw(dir / "m" / "t10k-labels-idx1-ubyte.gz", {0x1F, 0x8B});
    expect_error([&] { load_mnist(dir / "m"); }, {"t10k-labels-idx1-ubyte.gz", "uncompressed", hint});
    write_idx_set(dir / "small", 2, 2, 14, 14);
    expect_error([&] { load_fashion_mnist(dir / "small"); }, {"(2, 1, 14, 14)", "(N, 1, 28, 28)"});
}

TEST(LoadMnist, DefaultDirectories) {
    const char* old = std::getenv("TYPENET_DATA");
    const std::string saved = old ? old : "";
    ::setenv("TYPENET_DATA", "/some/where", 1);
    EXPECT_EQ(default_data_dir(), fs::path("/some/where"));
    EXPECT_EQ(mnist_dir(), fs::path("/some/where/mnist"));
    EXPECT_EQ(fashion_mnist_dir(), fs::path("/some/where/fashion-mnist"));
    ::unsetenv("TYPENET_DATA");
    EXPECT_EQ(default_data_dir(), fs::path("data"));
    if (old) ::setenv("TYPENET_DATA", saved.c_str(), 1);
}

TEST(Transform, OneHot) {
    const std::vector<std::int32_t> labels{2, 0, 1};
    const Tensor<float> t = one_hot(labels, 3);
    EXPECT_EQ(t.dims(), (Dims{3, 3}));
    EXPECT_EQ(t.to_host(), (std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0}));
    const std::vector<std::int32_t> bad{0, 5}, negative{-1};
    expect_error<ArgumentError>([&] { one_hot(bad, 3); }, {"label 5", "index 1"});
    expect_error<ArgumentError>([&] { one_hot(negative, 3); }, {"label -1", "index 0"});
}

TEST(Transform, MeanStdAndStandardize) {
    Dataset ds = make_dataset({0, 1, 2, 3}, 2);
    auto [mean, sd] = mean_std(ds);
    EXPECT_DOUBLE_EQ(mean, 1.5);
    EXPECT_DOUBLE_EQ(sd, std::sqrt(1.25));
    standardize(ds, mean, sd);
    std::tie(mean, sd) = mean_std(ds);
    EXPECT_NEAR(mean, 0.0, 1e-7);
    EXPECT_NEAR(sd, 1.0, 1e-6);
    expect_error<ArgumentError>([&] { standardize(ds, 0.0, 0.0); }, {"toy", "positive"});
    expect_error<ArgumentError>([&] { standardize(ds, 0.0, -1.0); }, {"positive"});
    expect_error<ArgumentError>([] { mean_std(Dataset{}); }, {"no values"});
}

TEST(Transform, Subset) {
    const Dataset ds = make_dataset({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 5);
    const Dataset s = subset(ds, 1, 3);
    EXPECT_EQ(s.images.dims(), (Dims{3, 2}));
    EXPECT_EQ(s.images.to_host(), (std::vector<float>{2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(s.labels, (std::vector<std::int32_t>{1, 2, 0}));
    EXPECT_EQ(s.classes, 3u);
    EXPECT_EQ(subset(ds, 5, 0).size(), 0u);
    expect_error<ArgumentError>([&] { subset(ds, 3, 3); }, {"toy", "5 samples"});
    expect_error<ArgumentError>([&] { subset(ds, std::numeric_limits<std::size_t>::max(), 2); }, {"exceed"});
}

TEST(Transform, Cast) {
    const Dataset ds = make_dataset({0.5f, 0.25f, 1, 2}, 2);
    const BasicDataset<double> d = cast<double>(ds);
    EXPECT_EQ(d.images.dims(), ds.images.dims());
    EXPECT_EQ(d.images.to_host(), (std::vector<double>{0.5, 0.25, 1, 2}));
    EXPECT_EQ(d.labels, ds.labels);
    EXPECT_EQ(d.classes, ds.classes);
    EXPECT_EQ(d.name, ds.name);
}
