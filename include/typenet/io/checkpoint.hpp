// typenet/io/checkpoint.hpp - everything needed to resume training, in one safetensors file.
//
// A checkpoint is the weights file of save() (same names, so load() and
// PyTorch read it too) plus:
//   __typenet__.optimizer_state   (slots, parameters) the moments of the model's
//                                 OptimizerState (momentum, running averages), model's dtype
//   __typenet__.rng_state         (4) U64, the model's generator (shuffling, dropout)
// and metadata typenet.checkpoint.{epoch, optimizer, iterations}, the last two
// the OptimizerState's owner and step count. Format version 2 (metadata
// typenet.checkpoint.version; files without it are version 1 and still load)
// adds typenet.checkpoint.learning_rate, a rate a schedule set on the state,
// and fit's TrainingState: callbacks' state as metadata "typenet.training.*"
// and tensors "__typenet__.training.*". Restoring all of it makes the
// following epochs identical, bit for bit on the CPU backend, to those of a
// run that never stopped.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../optim/optimizer.hpp"
#include "save_load.hpp"

namespace typenet {

namespace io_detail {
inline constexpr const char* optimizer_state_name = "__typenet__.optimizer_state";
inline constexpr const char* rng_state_name = "__typenet__.rng_state";
inline constexpr const char* epoch_key = "typenet.checkpoint.epoch";
inline constexpr const char* optimizer_key = "typenet.checkpoint.optimizer";
inline constexpr const char* iterations_key = "typenet.checkpoint.iterations";
inline constexpr const char* version_key = "typenet.checkpoint.version";
inline constexpr const char* learning_rate_key = "typenet.checkpoint.learning_rate";
inline constexpr const char* training_key_prefix = "typenet.training.";
inline constexpr const char* training_tensor_prefix = "__typenet__.training.";
/// 1: weights, moments, generator, epoch, optimizer, iterations (no version key);
/// 2: + the scheduled learning rate and the TrainingState.
inline constexpr std::uint64_t checkpoint_version = 2;

/// A double as the shortest text that reads back as the same double.
inline std::string exact_text(double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}
/// Reads exact_text's output; nullopt if `s` is not a whole number.
inline std::optional<double> parse_double(std::string_view s) {
    double v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

/// The metadata value `key` as an unsigned integer, or nullopt (and a problem line).
inline std::optional<std::uint64_t> metadata_number(const SafetensorsReader& file, const std::string& key,
                                                    std::vector<std::string>& problems) {
    const auto it = file.metadata().find(key);
    if (it == file.metadata().end()) {
        problems.push_back("metadata \"" + key + "\" is missing (is this a weights file rather than a checkpoint?)");
        return std::nullopt;
    }
    std::uint64_t v = 0;
    const std::string& s = it->second;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size()) {
        problems.push_back("metadata \"" + key + "\" is \"" + s + "\", not an unsigned integer");
        return std::nullopt;
    }
    return v;
}
}  // namespace io_detail

/// What a training loop keeps beside the model in a checkpoint: fit's
/// callbacks' state (EarlyStopping's best value and weights, ...). Keys are
/// free-form; values are exact text, arrays the model's scalar type.
template <class T>
struct TrainingState {
    std::map<std::string, std::string, std::less<>> values;  // metadata "typenet.training.<key>"
    std::map<std::string, std::vector<T>, std::less<>> arrays;  // 1-D tensors "__typenet__.training.<key>"

    void set(const std::string& key, double v) { values[key] = io_detail::exact_text(v); }
    /// The number under `key`, or nullopt when absent; an unreadable one throws IoError.
    std::optional<double> number(const std::string& key) const {
        const auto it = values.find(key);
        if (it == values.end()) return std::nullopt;
        const auto v = io_detail::parse_double(it->second);
        if (!v) throw IoError("checkpoint: training state \"" + key + "\" is \"" + it->second + "\", not a number");
        return v;
    }
    /// The array under `key` with exactly `size` values, or null when absent.
    const std::vector<T>* array(const std::string& key, std::size_t size) const {
        const auto it = arrays.find(key);
        if (it == arrays.end()) return nullptr;
        if (it->second.size() != size)
            throw IoError("checkpoint: training state tensor '" + key + "' has " + std::to_string(it->second.size()) +
                          " values but " + std::to_string(size) + " are needed");
        return &it->second;
    }
};

/// Reads the TrainingState of a checkpoint (empty for version 1 files).
template <class T>
TrainingState<T> read_training_state(const SafetensorsReader& file) {
    TrainingState<T> st;
    const std::string_view key_prefix = io_detail::training_key_prefix, tensor_prefix = io_detail::training_tensor_prefix;
    for (const auto& [k, v] : file.metadata())
        if (std::string_view(k).starts_with(key_prefix)) st.values[k.substr(key_prefix.size())] = v;
    for (const auto& t : file.tensors()) {
        if (!std::string_view(t.name).starts_with(tensor_prefix)) continue;
        if (t.dtype != dtype_of<T>() || t.shape.size() != 1)
            throw IoError("load_checkpoint('" + file.path().string() + "'): training state tensor '" + t.name + "' is " +
                          std::string(dtype_name(t.dtype)) + " " + t.shape_string() + " but must be 1-D " +
                          std::string(dtype_name(dtype_of<T>())) + " for this model");
        st.arrays[t.name.substr(tensor_prefix.size())] = file.read<T>(t);
    }
    return st;
}

/// Writes a checkpoint of `model` and `optimizer` after `epoch` (1-based
/// epochs completed) to `path`, atomically like save(). Call it at the end of
/// an epoch: the generator state saved is the one the next epoch starts from.
/// `optimizer` names the optimizer (O::name) whose state is saved.
/// `training` (fit's callbacks' state) goes into the file too.
template <class M, Optimizer<M> O>
void save_checkpoint(const std::filesystem::path& path, M& model, const O& /*optimizer*/, std::size_t epoch,
                     const TrainingState<typename M::scalar>& training = {}) {
    using T = typename M::scalar;
    // A checkpoint exists to be resumed from: never replace a good one with
    // weights that have diverged.
    for (const auto& seg : model.segments())
        if (!all_finite(model.backend(), seg.size, model.parameters().data() + seg.offset))
            throw NumericalError("save_checkpoint('" + path.string() + "'): parameter '" + seg.name +
                                 "' holds NaN or inf, so the checkpoint was not written; the file on disk (if any) is "
                                 "unchanged. Lower the learning rate and resume from it.");
    SafetensorsWriter w;
    io_detail::add_weights(model, w);
    // The state belongs to the optimizer that last stepped the model; only
    // O's is worth resuming with O (another's is as good as none: O's first
    // step would zero it).
    const auto& state = model.optimizer_state();
    const bool ours = state.owner() == O::name;
    if (ours && state.slots() > 0) {
        const std::size_t count = state.slots() * M::parameter_count;
        const std::vector<T> moments = state.moments().to_host();
        w.add<T>(io_detail::optimizer_state_name, {state.slots(), M::parameter_count},
                 std::span<const T>(moments).first(count));
    }
    const Rng::State rng = model.rng().state();
    w.add<std::uint64_t>(io_detail::rng_state_name, {rng.size()}, std::span<const std::uint64_t>(rng));
    w.set_metadata(io_detail::epoch_key, std::to_string(epoch));
    w.set_metadata(io_detail::optimizer_key, O::name);
    w.set_metadata(io_detail::iterations_key, std::to_string(ours ? state.step() : 0));
    w.set_metadata(io_detail::version_key, std::to_string(io_detail::checkpoint_version));
    if (ours && state.learning_rate())
        w.set_metadata(io_detail::learning_rate_key, io_detail::exact_text(*state.learning_rate()));
    for (const auto& [k, v] : training.values) w.set_metadata(io_detail::training_key_prefix + k, v);
    for (const auto& [k, a] : training.arrays)
        w.add<T>(io_detail::training_tensor_prefix + k, {a.size()}, std::span<const T>(a));
    w.write(path, "save_checkpoint('" + path.string() + "')");
}

/// Restores a checkpoint written by save_checkpoint into `model` - weights,
/// buffers, generator and its OptimizerState (moments and step count) - and
/// returns the epoch it was written after. `optimizer` must be of the type
/// that wrote it (its hyper-parameters are the caller's and are not stored).
/// Everything is checked before anything changes: on a mismatch one IoError
/// lists every problem and the model is left as it was. Reads a path, or a
/// SafetensorsReader already open (e.g. on bytes in memory).
template <class M, Optimizer<M> O>
std::size_t load_checkpoint(const SafetensorsReader& file, M& model, const O& /*optimizer*/) {
    using T = typename M::scalar;
    const std::string what = "load_checkpoint('" + file.path().string() + "')";
    std::vector<std::string> problems = io_detail::mismatches(model, file);

    const auto epoch = io_detail::metadata_number(file, io_detail::epoch_key, problems);
    const auto iterations = io_detail::metadata_number(file, io_detail::iterations_key, problems);
    if (file.metadata().contains(io_detail::version_key)) {  // absent: version 1
        const auto version = io_detail::metadata_number(file, io_detail::version_key, problems);
        if (version && (*version < 2 || *version > io_detail::checkpoint_version))
            problems.push_back("the checkpoint format version is " + std::to_string(*version) + "; this typenet reads " +
                               "versions 1 to " + std::to_string(io_detail::checkpoint_version) +
                               " (a newer typenet wrote it?)");
    }
    std::optional<double> learning_rate;
    if (const auto it = file.metadata().find(io_detail::learning_rate_key); it != file.metadata().end()) {
        learning_rate = io_detail::parse_double(it->second);
        if (!learning_rate || !std::isfinite(*learning_rate) || *learning_rate <= 0.0)
            problems.push_back(std::string("metadata \"") + io_detail::learning_rate_key + "\" is \"" + it->second +
                               "\", not a positive number");
    }
    const auto opt = file.metadata().find(io_detail::optimizer_key);
    if (opt == file.metadata().end())
        problems.push_back(std::string("metadata \"") + io_detail::optimizer_key + "\" is missing");
    else if (opt->second != O::name)
        problems.push_back("the checkpoint was written with the optimizer " + opt->second + " but is resumed with " +
                           O::name + "; resume with the optimizer it was written with");

    const TensorEntry* state = file.find(io_detail::optimizer_state_name);
    const std::vector<std::uint64_t> state_shape{O::state_slots, M::parameter_count};
    if (state && (state->shape != state_shape || state->dtype != dtype_of<T>()))
        problems.push_back(std::string("tensor '") + io_detail::optimizer_state_name + "' is " +
                           std::string(dtype_name(state->dtype)) + " " + state->shape_string() + " but " + O::name +
                           " on this model needs " + std::string(dtype_name(dtype_of<T>())) + " " +
                           io_detail::shape_string(state_shape));
    const TensorEntry* rng = file.find(io_detail::rng_state_name);
    if (!rng)
        problems.push_back(std::string("missing tensor '") + io_detail::rng_state_name + "' (the random generator's state)");
    else if (rng->dtype != Dtype::U64 || rng->shape != std::vector<std::uint64_t>{4})
        problems.push_back(std::string("tensor '") + io_detail::rng_state_name + "' is " +
                           std::string(dtype_name(rng->dtype)) + " " + rng->shape_string() + " but must be U64 (4)");
    io_detail::throw_if_mismatched<M>(what, problems,
                                      "the network " + io_detail::network_description<M>() + " and the optimizer " + O::name);

    // Read everything, then change the model.
    const auto weights = io_detail::read_weights(model, file);
    const std::vector<T> slots = state ? file.read<T>(*state) : std::vector<T>{};
    const std::vector<std::uint64_t> words = file.read<std::uint64_t>(*rng);
    io_detail::apply_weights(model, weights);
    if (state || *iterations > 0)  // (no tensor: O has not stored moments yet; they start at zero)
        model.optimizer_state().assign(O::name, O::state_slots, *iterations, std::span<const T>(slots));
    else
        model.optimizer_state().reset();  // no step was taken: fresh, as a new model
    if (learning_rate) {
        model.optimizer_state().claim(O::name, O::state_slots);  // (a no-op after assign)
        model.optimizer_state().set_learning_rate(*learning_rate);
    }
    Rng::State s{};
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = words[i];
    model.rng().set_state(s);
    return static_cast<std::size_t>(*epoch);
}
template <class M, Optimizer<M> O>
std::size_t load_checkpoint(const std::filesystem::path& path, M& model, const O& optimizer) {
    return load_checkpoint(SafetensorsReader(path), model, optimizer);
}

}  // namespace typenet
