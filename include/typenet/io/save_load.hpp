// typenet/io/save_load.hpp - a model's weights to and from a safetensors file.
//
// Names and layouts are those of PyTorch's state_dict for the equivalent
// nn.Sequential: "<i>.weight" / "<i>.bias" where i counts every layer after
// Input (activations, pooling and Flatten included, like nn.Sequential's
// children); Dense (out, in), Conv2D (out, in, kh, kw), BatchNorm weight / bias
// / running_mean / running_var. So `torch_model.load_state_dict(...)` takes a
// file typenet wrote, and typenet loads a file PyTorch's state_dict went into.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/shape.hpp"
#include "../core/version.hpp"
#include "safetensors.hpp"

namespace typenet {

namespace io_detail {

/// Tensors whose names start with this belong to typenet (checkpoint state);
/// load() ignores them, so a checkpoint also loads as a weights file.
inline constexpr std::string_view private_prefix = "__typenet__.";

inline std::vector<std::uint64_t> shape_of(const Dims& d) {
    std::vector<std::uint64_t> s(d.rank);
    for (std::size_t i = 0; i < d.rank; ++i) s[i] = d[i];
    return s;
}
inline std::string shape_string(const std::vector<std::uint64_t>& s) {
    std::string r = "(";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + ")";
}

/// "Input<1, 28, 28>, Conv2D<32, 3>, ReLU, ...": the network, for metadata and messages.
template <class M>
std::string network_description() {
    std::string s = "Input<";
    for (std::size_t i = 0; i < M::input_shape::rank; ++i) s += (i ? ", " : "") + std::to_string(M::input_shape::dims[i]);
    s += ">";
    for (const auto& n : M::layer_names()) s += ", " + n;
    return s;
}

/// Adds the model's parameters and buffers (one device-to-host copy each) and
/// typenet's metadata to `w`.
template <class M>
void add_weights(const M& model, SafetensorsWriter& w) {
    using T = typename M::scalar;
    const std::vector<T> params = model.parameters().to_host();
    const std::vector<T> buffers = model.buffers().to_host();
    for (const auto& s : model.segments())
        w.add<T>(s.name, shape_of(s.dims), std::span<const T>(params).subspan(s.offset, s.size));
    for (const auto& s : model.buffer_segments())
        w.add<T>(s.name, shape_of(s.dims), std::span<const T>(buffers).subspan(s.offset, s.size));
    w.set_metadata("format", "pt");  // what Hugging Face tools expect of a PyTorch state_dict
    w.set_metadata("typenet.version", std::string(version));
    w.set_metadata("typenet.network", network_description<M>());
    w.set_metadata("typenet.parameters", std::to_string(M::parameter_count));
}

/// Whether `name` is "<i>.num_batches_tracked" for a layer i that has
/// running statistics: PyTorch's BatchNorm saves this counter; typenet does not need it.
template <class M>
bool is_ignored_torch_buffer(const M& model, const std::string& name) {
    constexpr std::string_view suffix = ".num_batches_tracked";
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
    const std::string layer = name.substr(0, name.size() - suffix.size());
    for (const auto& s : model.buffer_segments())
        if (s.name.compare(0, layer.size() + 1, layer + ".") == 0) return true;
    return false;
}

/// Every way the file differs from what the model expects, one line each.
template <class M>
std::vector<std::string> mismatches(const M& model, const SafetensorsReader& file) {
    std::vector<std::string> problems;
    std::vector<std::string> expected;
    auto check = [&](const auto& segments) {
        for (const auto& s : segments) {
            expected.push_back(s.name);
            const TensorEntry* t = file.find(s.name);
            const std::string want = shape_string(shape_of(s.dims));
            if (!t) {
                problems.push_back("missing tensor '" + s.name + "' (the network expects shape " + want + ")");
                continue;
            }
            if (t->shape != shape_of(s.dims))
                problems.push_back("tensor '" + s.name + "' has shape " + t->shape_string() + " but the network expects " + want);
            if (!is_readable_float(t->dtype))
                problems.push_back("tensor '" + s.name + "' has dtype " + std::string(dtype_name(t->dtype)) +
                                   " but typenet reads weights as F32, F64, F16 or BF16");
        }
    };
    check(model.segments());
    check(model.buffer_segments());
    for (const auto& t : file.tensors()) {
        if (std::string_view(t.name).starts_with(private_prefix) || is_ignored_torch_buffer(model, t.name)) continue;
        bool known = false;
        for (const auto& e : expected) known = known || e == t.name;
        if (!known)
            problems.push_back("unexpected tensor '" + t.name + "' (shape " + t.shape_string() + ", " +
                               std::string(dtype_name(t.dtype)) + ") that the network does not have");
    }
    return problems;
}

/// Throws one IoError listing all problems, or returns when there are none.
/// `subject` completes "the file does not match ...".
template <class M>
void throw_if_mismatched(const std::string& what, const std::vector<std::string>& problems, const std::string& subject = {}) {
    if (problems.empty()) return;
    std::string msg = what + ": the file does not match " +
                      (subject.empty() ? "the network " + network_description<M>() : subject) + " (" +
                      std::to_string(problems.size()) + (problems.size() == 1 ? " problem" : " problems") + "):";
    for (const auto& p : problems) msg += "\n  - " + p;
    msg += "\nLoad it into the network it was saved from; tensor names count every layer after Input, like nn.Sequential.";
    throw IoError(msg);
}

/// Parameters and buffers on the host, in the model's flat layouts.
template <class T>
struct HostWeights {
    std::vector<T> parameters, buffers;
};

/// Reads every parameter and buffer (after mismatches() found none) into host
/// memory, so a caller can apply them only once every read has succeeded.
template <class M>
HostWeights<typename M::scalar> read_weights(const M& model, const SafetensorsReader& file) {
    using T = typename M::scalar;
    HostWeights<T> h{std::vector<T>(model.parameters().size()), std::vector<T>(model.buffers().size())};
    for (const auto& s : model.segments()) {
        const auto v = file.read<T>(s.name);
        std::copy(v.begin(), v.end(), h.parameters.begin() + std::ptrdiff_t(s.offset));
    }
    for (const auto& s : model.buffer_segments()) {
        const auto v = file.read<T>(s.name);
        std::copy(v.begin(), v.end(), h.buffers.begin() + std::ptrdiff_t(s.offset));
    }
    return h;
}

/// One host-to-device copy each for parameters and buffers.
template <class M>
void apply_weights(M& model, const HostWeights<typename M::scalar>& h) {
    model.parameters().from_host(h.parameters);
    model.buffers().from_host(h.buffers);
}

}  // namespace io_detail

/// Saves the model's weights (parameters and BatchNorm running statistics) to
/// `path` as safetensors, F32 for float models and F64 for double ones. The
/// file is replaced atomically: an interrupted or failed save leaves the old
/// file as it was. Works for models on any backend (one copy to the host).
/// Throws IoError.
template <class M>
void save(const M& model, const std::filesystem::path& path) {
    SafetensorsWriter w;
    io_detail::add_weights(model, w);
    w.write(path, "save('" + path.string() + "')");
}

/// Loads weights saved by save() or by PyTorch (F32, F64, F16 or BF16,
/// converted to the model's scalar type). Every name, shape and dtype is
/// checked first; if anything differs, one IoError lists every missing,
/// unexpected, misshapen or mistyped tensor and the model is left unchanged.
/// Reads a path, or a SafetensorsReader already open (e.g. on bytes in memory).
template <class M>
void load(M& model, const SafetensorsReader& file) {
    const std::string what = "load('" + file.path().string() + "')";
    io_detail::throw_if_mismatched<M>(what, io_detail::mismatches(model, file));
    io_detail::apply_weights(model, io_detail::read_weights(model, file));
}
template <class M>
void load(M& model, const std::filesystem::path& path) {
    load(model, SafetensorsReader(path));
}

}  // namespace typenet
