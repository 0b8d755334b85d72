// libFuzzer target: SafetensorsReader on arbitrary bytes, then every tensor
// read as raw bytes, float and double. An IoError is the promised answer to a
// bad file. What it accepts must survive a round trip through
// SafetensorsWriter: the same tensors (names, order, dtypes, shapes, bytes)
// and metadata.
#include <typenet/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_check.hpp"

namespace tn = typenet;

namespace {
std::vector<std::byte> bytes_of(const std::uint8_t* data, std::size_t size) {
    std::vector<std::byte> v(size);
    if (size) std::memcpy(v.data(), data, size);
    return v;
}

// The file SafetensorsWriter::write would write, in memory.
std::vector<std::byte> written(const tn::SafetensorsWriter& w, const std::vector<std::vector<std::byte>>& data) {
    const std::string h = w.header();
    std::vector<std::byte> out;
    for (int i = 0; i < 8; ++i) out.push_back(std::byte((std::uint64_t(h.size()) >> (8 * i)) & 0xFF));
    for (const char c : h) out.push_back(std::byte(c));
    for (const auto& d : data) out.insert(out.end(), d.begin(), d.end());
    return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<tn::TensorEntry> tensors;
    std::vector<std::vector<std::byte>> raw;
    std::map<std::string, std::string, std::less<>> metadata;
    tn::SafetensorsWriter w;
    try {
        const tn::SafetensorsReader r(bytes_of(data, size), "fuzz.safetensors");
        tensors = r.tensors();
        for (const auto& t : tensors) {
            raw.push_back(r.read_bytes(t));
            fuzz::check(raw.back().size() == t.bytes(), "read_bytes returns the tensor's byte count");
            if (tn::is_readable_float(t.dtype)) {
                fuzz::check(r.read<float>(t).size() == t.elements(), "read<float> returns every element");
                fuzz::check(r.read<double>(t).size() == t.elements(), "read<double> returns every element");
            }
            w.add_bytes(t.name, t.dtype, t.shape, raw.back());
        }
        metadata = r.metadata();
        for (const auto& [k, v] : metadata) w.set_metadata(k, v);
    } catch (const tn::IoError&) {
        return 0;
    }

    try {
        const tn::SafetensorsReader again(written(w, raw), "rewritten.safetensors");
        fuzz::check(again.tensors().size() == tensors.size(), "a rewritten file holds the same tensors");
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const auto &a = tensors[i], &b = again.tensors()[i];
            fuzz::check(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape,
                        "a rewritten tensor keeps its name, order, dtype and shape");
            fuzz::check(again.read_bytes(b) == raw[i], "a rewritten tensor keeps its bytes");
        }
        fuzz::check(again.metadata() == metadata, "a rewritten file keeps its metadata");
    } catch (const tn::IoError& e) {
        std::fprintf(stderr, "%s\n", e.what());
        fuzz::check(false, "the reader reads back what the writer wrote of an accepted file");
    }
    return 0;
}
