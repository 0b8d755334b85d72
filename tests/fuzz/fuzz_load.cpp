// libFuzzer target: load() and load_checkpoint() of a small network (see
// fuzz_model.hpp) from arbitrary bytes. An IoError is the promised answer to
// a bad file or one that does not match the network, and then the model and
// the optimizer must be left exactly as they were.
#include <typenet/io/snapshot.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_check.hpp"
#include "fuzz_model.hpp"

namespace tn = typenet;

namespace {
// Everything load() and load_checkpoint() may change.
struct State {
    std::vector<float> parameters, buffers, optimizer_state;
    std::string optimizer_owner;
    tn::Rng::State rng;
    std::uint64_t iterations;
};

State state_of(fuzz::Model& m, const fuzz::Optimizer& o) {
    return {m.parameters().to_host(), m.buffers().to_host(), m.optimizer_state_tensor().to_host(), m.optimizer_owner(),
            m.rng().state(), o.iterations()};
}

// Bitwise, so that a NaN loaded earlier compares equal to itself.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}
bool unchanged(const State& a, const State& b) {
    return same_bits(a.parameters, b.parameters) && same_bits(a.buffers, b.buffers) &&
           same_bits(a.optimizer_state, b.optimizer_state) && a.optimizer_owner == b.optimizer_owner &&
           a.rng == b.rng && a.iterations == b.iterations;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static fuzz::Model model{1, tn::Cpu{1}};
    static fuzz::Optimizer optimizer;
    static const auto initial = tn::snapshot(model);
    // Each input starts from the same model, so a saved crash reproduces alone.
    tn::restore(model, initial);
    optimizer.set_iterations(0);

    std::vector<std::byte> bytes(size);
    if (size) std::memcpy(bytes.data(), data, size);
    std::optional<tn::SafetensorsReader> file;
    try {
        file.emplace(std::move(bytes), "fuzz.safetensors");
    } catch (const tn::IoError&) {
        return 0;
    }

    State before = state_of(model, optimizer);
    try {
        tn::load(model, *file);
    } catch (const tn::IoError&) {
        fuzz::check(unchanged(before, state_of(model, optimizer)), "a failed load() leaves the model as it was");
    }
    before = state_of(model, optimizer);
    try {
        (void)tn::load_checkpoint(*file, model, optimizer);
    } catch (const tn::IoError&) {
        fuzz::check(unchanged(before, state_of(model, optimizer)),
                    "a failed load_checkpoint() leaves the model and the optimizer as they were");
    }
    return 0;
}
