// libFuzzer target: load() and load_checkpoint() of a small network (see
// fuzz_model.hpp) from arbitrary bytes. An IoError is the promised answer to
// a bad file or one that does not match the network, and then the model (its
// optimizer state included) must be left exactly as it was.
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
    std::uint64_t step;
};

State state_of(fuzz::Model& m) {
    const auto& s = m.optimizer_state();
    return {m.parameters().to_host(), m.buffers().to_host(), s.moments().to_host(), s.owner(), m.rng().state(), s.step()};
}

// Bitwise, so that a NaN loaded earlier compares equal to itself.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}
bool unchanged(const State& a, const State& b) {
    return same_bits(a.parameters, b.parameters) && same_bits(a.buffers, b.buffers) &&
           same_bits(a.optimizer_state, b.optimizer_state) && a.optimizer_owner == b.optimizer_owner &&
           a.rng == b.rng && a.step == b.step;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static fuzz::Model model{1, tn::Cpu{1}};
    static const fuzz::Optimizer optimizer;
    static const auto initial = tn::snapshot(model);
    // Each input starts from the same model (restore also resets its optimizer
    // state), so a saved crash reproduces alone.
    tn::restore(model, initial);

    std::vector<std::byte> bytes(size);
    if (size) std::memcpy(bytes.data(), data, size);
    std::optional<tn::SafetensorsReader> file;
    try {
        file.emplace(std::move(bytes), "fuzz.safetensors");
    } catch (const tn::IoError&) {
        return 0;
    }

    State before = state_of(model);
    try {
        tn::load(model, *file);
    } catch (const tn::IoError&) {
        fuzz::check(unchanged(before, state_of(model)), "a failed load() leaves the model as it was");
    }
    before = state_of(model);
    try {
        (void)tn::load_checkpoint(*file, model, optimizer);
    } catch (const tn::IoError&) {
        fuzz::check(unchanged(before, state_of(model)),
                    "a failed load_checkpoint() leaves the model and its optimizer state as they were");
    }
    return 0;
}
