// typenet/data/mnist.hpp - loads MNIST and Fashion-MNIST (and any image/label
// pair of IDX files) into Datasets, pixels scaled to [0, 1].
// The files come from cmake/fetch_data.sh; see default_data_dir().
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "../core/error.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "dataset.hpp"
#include "idx.hpp"

namespace typenet {

/// Where the fetch script puts the data: $TYPENET_DATA when set and non-empty,
/// else "data" relative to the current directory. MNIST lives in
/// <root>/mnist and Fashion-MNIST in <root>/fashion-mnist.
inline std::filesystem::path default_data_dir() {
    const char* env = std::getenv("TYPENET_DATA");
    return (env && *env) ? std::filesystem::path(env) : std::filesystem::path("data");
}
inline std::filesystem::path mnist_dir() { return default_data_dir() / "mnist"; }
inline std::filesystem::path fashion_mnist_dir() { return default_data_dir() / "fashion-mnist"; }

/// Loads an IDX image file (N,H,W) -> images (N,1,H,W), (N,C,H,W) -> (N,C,H,W)
/// or (N,F) -> (N,F), bytes scaled to [0,1], and an IDX label file (N) whose
/// values must lie in [0, classes). `name` labels the dataset in messages.
template <class T = float>
BasicDataset<T> load_idx_dataset(const std::filesystem::path& images_path, const std::filesystem::path& labels_path,
                                 std::size_t classes, std::string name) {
    detail::require(classes >= 1 && classes <= 256,
                    "load_idx_dataset(" + name + "): classes must be in [1, 256] for byte labels, got " +
                        std::to_string(classes));
    const IdxArray img = read_idx(images_path);
    const IdxArray lab = read_idx(labels_path);
    const std::string ip = "'" + images_path.string() + "'";
    const std::string lp = "'" + labels_path.string() + "'";

    if (img.rank() < 2)
        throw DataError(name + ": image file " + ip + " has shape " + detail::dims_string(img.dims) +
                        " but images need 2 to 4 dimensions (N,H,W), (N,C,H,W) or (N,F); check that the image "
                        "and label files are not swapped.");
    if (lab.rank() != 1)
        throw DataError(name + ": label file " + lp + " has shape " + detail::dims_string(lab.dims) +
                        " but labels need exactly one dimension (N); check that the image and label files are "
                        "not swapped.");
    const std::size_t n = img.dims[0];
    if (lab.dims[0] != n)
        throw DataError(name + ": image file " + ip + " holds " + std::to_string(n) + " images but label file " +
                        lp + " holds " + std::to_string(lab.dims[0]) +
                        " labels; the counts must match, so the two files belong to different sets "
                        "(re-run cmake/fetch_data.sh for MNIST / Fashion-MNIST).");
    for (std::size_t i = 0; i < n; ++i)
        if (lab.data[i] >= classes)
            throw DataError(name + ": label file " + lp + " has label " + std::to_string(lab.data[i]) +
                            " at index " + std::to_string(i) + ", outside [0, " + std::to_string(classes) +
                            "); the file is corrupt or belongs to another dataset.");

    Dims dims;
    if (img.rank() == 3) dims = {n, 1, img.dims[1], img.dims[2]};  // (N,1,H,W)
    else if (img.rank() == 4) dims = {n, img.dims[1], img.dims[2], img.dims[3]};
    else dims = {n, img.dims[1]};

    BasicDataset<T> ds;
    ds.images.resize(dims);
    T* out = ds.images.data();
    for (std::size_t i = 0; i < img.data.size(); ++i) out[i] = static_cast<T>(img.data[i]) / T(255);
    ds.labels.assign(lab.data.begin(), lab.data.end());
    ds.classes = classes;
    ds.name = std::move(name);
    return ds;
}

namespace detail {

inline constexpr const char* fetch_hint =
    "run cmake/fetch_data.sh (or set TYPENET_DATA to the directory holding mnist/ and fashion-mnist/)";

inline constexpr const char* idx_set_files[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

inline bool has_idx_set(const std::filesystem::path& dir) {
    std::error_code ec;
    return std::filesystem::exists(dir / idx_set_files[0], ec) ||
           std::filesystem::exists(dir / (std::string(idx_set_files[0]) + ".gz"), ec);
}

/// Checks that the four standard files are in `dir` before anything is read,
/// so a missing download gets one clear message instead of an IDX error.
inline void check_idx_set(const std::filesystem::path& dir, const std::string& title) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw DataError(title + " directory '" + dir.string() + "' " +
                        (fs::exists(dir, ec) ? "is not a directory" : "does not exist") + "; " + fetch_hint + ".");
    for (const char* f : idx_set_files) {
        const fs::path p = dir / f;
        if (fs::exists(p, ec)) continue;
        if (fs::exists(fs::path(p.string() + ".gz"), ec))
            throw DataError(title + " file '" + p.string() + "' is missing: only '" + p.string() +
                            ".gz' is there and typenet reads uncompressed IDX files; " + fetch_hint + ".");
        throw DataError(title + " file '" + p.string() + "' is missing; " + fetch_hint + ".");
    }
}

/// Loads the train/t10k pair from `dir`; accepts the data root too, in which
/// case the files are looked for in <dir>/<subdir> (so load_mnist(default_data_dir()) works).
template <class T>
BasicSplit<T> load_idx_split(std::filesystem::path dir, const char* subdir, const std::string& title,
                             std::size_t height, std::size_t width) {
    if (!has_idx_set(dir) && has_idx_set(dir / subdir)) dir /= subdir;
    check_idx_set(dir, title);
    BasicSplit<T> s{load_idx_dataset<T>(dir / idx_set_files[0], dir / idx_set_files[1], 10, title + " train"),
                    load_idx_dataset<T>(dir / idx_set_files[2], dir / idx_set_files[3], 10, title + " test")};
    for (const auto* part : {&s.train, &s.test}) {
        const Dims& d = part->images.dims();
        if (d.rank != 4 || d[1] != 1 || d[2] != height || d[3] != width)
            throw DataError(part->name + " images in '" + dir.string() + "' have shape " + d.str() +
                            " but (N, 1, " + std::to_string(height) + ", " + std::to_string(width) +
                            ") was expected; the files belong to another dataset: " + fetch_hint + ".");
    }
    return s;
}

}  // namespace detail

/// Loads MNIST (60,000 train / 10,000 test digits, 1x28x28, labels 0-9) from
/// the directory holding the four IDX files, or from a data root holding mnist/.
template <class T = float>
BasicSplit<T> load_mnist(const std::filesystem::path& dir = mnist_dir()) {
    return detail::load_idx_split<T>(dir, "mnist", "MNIST", 28, 28);
}

/// Loads Fashion-MNIST (same layout as MNIST, 10 clothing classes) from the
/// directory holding the four IDX files, or from a data root holding fashion-mnist/.
template <class T = float>
BasicSplit<T> load_fashion_mnist(const std::filesystem::path& dir = fashion_mnist_dir()) {
    return detail::load_idx_split<T>(dir, "fashion-mnist", "Fashion-MNIST", 28, 28);
}

}  // namespace typenet
