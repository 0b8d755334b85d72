// typenet/io/safetensors.hpp - reads and writes safetensors files.
//
// Format: an 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}   (optional)
// then the raw little-endian tensor data; offsets count from the data's first byte.
// The reader trusts nothing in the file: every size and offset is checked
// against the real file length before anything is allocated or read, tensors
// must tile the data exactly (no overlap, no gap, nothing past the end), and
// every error is an IoError naming the file and the tensor.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "atomic_file.hpp"
#include "dtype.hpp"
#include "json.hpp"

namespace typenet {

/// One tensor listed in a safetensors header.
struct TensorEntry {
    std::string name;
    Dtype dtype = Dtype::F32;
    std::vector<std::uint64_t> shape;
    std::uint64_t begin = 0, end = 0;  // byte offsets in the data section

    std::uint64_t bytes() const { return end - begin; }
    std::uint64_t elements() const { return bytes() / dtype_size(dtype); }
    std::string shape_string() const {
        std::string s = "(";
        for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
        return s + ")";
    }
};

/// A validated safetensors file: the constructor reads and checks the header;
/// read() / read_bytes() then fetch one tensor's data at a time.
class SafetensorsReader {
public:
    static constexpr std::uint64_t max_header_bytes = 100u << 20;  // the limit of the reference implementation

    explicit SafetensorsReader(std::filesystem::path path) : path_(std::move(path)) {
        open();
        parse_header();
        check_layout();
    }
    /// Reads a safetensors file already in memory, with the same checks;
    /// `name` stands for the file in error messages and path().
    SafetensorsReader(std::vector<std::byte> bytes, std::filesystem::path name)
        : path_(std::move(name)), bytes_(std::move(bytes)), file_size_(bytes_.size()) {
        parse_header();
        check_layout();
    }

    const std::filesystem::path& path() const { return path_; }
    /// Tensors in header order.
    const std::vector<TensorEntry>& tensors() const { return tensors_; }
    const std::map<std::string, std::string, std::less<>>& metadata() const { return metadata_; }
    /// The entry called `name`, or null.
    const TensorEntry* find(std::string_view name) const {
        for (const auto& t : tensors_)
            if (t.name == name) return &t;
        return nullptr;
    }
    const TensorEntry& at(std::string_view name) const {
        if (const TensorEntry* t = find(name)) return *t;
        throw IoError(prefix(name) + "is not in the file; the file holds " + std::to_string(tensors_.size()) +
                      " tensors. Check the name (PyTorch state_dict style, e.g. '0.weight').");
    }

    /// The tensor's raw little-endian bytes.
    std::vector<std::byte> read_bytes(const TensorEntry& t) const {
        std::vector<std::byte> out(static_cast<std::size_t>(t.bytes()));  // <= file size, checked in the constructor
        if (!read_at(data_start_ + t.begin, out.data(), out.size()))
            throw IoError(prefix(t.name) + "could not be read: the file became shorter while it was read; make sure "
                                           "no other program is writing it, then try again.");
        return out;
    }

    /// The tensor's values as T. A float / double T reads F16, BF16, F32 and
    /// F64 (converting); an integer T reads exactly dtype_of<T>().
    template <class T>
    std::vector<T> read(const TensorEntry& t) const {
        if constexpr (std::is_floating_point_v<T>) {
            if (!is_readable_float(t.dtype))
                throw IoError(prefix(t.name) + "has dtype " + std::string(dtype_name(t.dtype)) +
                              "; typenet reads floating-point tensors as F16, BF16, F32 or F64. Convert it to F32 before saving.");
        } else if (t.dtype != dtype_of<T>()) {
            throw IoError(prefix(t.name) + "has dtype " + std::string(dtype_name(t.dtype)) + " but " +
                          std::string(dtype_name(dtype_of<T>())) + " is expected; the file was not written by this "
                                                                   "version of typenet, or is damaged.");
        }
        const auto raw = read_bytes(t);
        std::vector<T> out(static_cast<std::size_t>(t.elements()));
        if constexpr (std::is_floating_point_v<T>) convert_floats(t.dtype, raw.data(), out.size(), out.data());
        else if (!out.empty()) std::memcpy(out.data(), raw.data(), raw.size());
        return out;
    }
    template <class T>
    std::vector<T> read(std::string_view name) const {
        return read<T>(at(name));
    }

private:
    std::string prefix(std::string_view tensor = {}) const {
        std::string s = "safetensors file '" + path_.string() + "': ";
        if (!tensor.empty()) s += "tensor '" + std::string(tensor) + "' ";
        return s;
    }
    [[noreturn]] void fail(const std::string& problem, std::string_view tensor = {}) const {
        throw IoError(prefix(tensor) + problem +
                      "; the file is damaged or not a safetensors file. Write it again from its source.");
    }

    // Copies n bytes at `offset` (within file_size_, which the callers check)
    // from the file or the in-memory bytes; false when the file came up short.
    bool read_at(std::uint64_t offset, void* dst, std::size_t n) const {
        if (!in_.is_open()) {
            if (n > 0) std::memcpy(dst, bytes_.data() + offset, n);
            return true;
        }
        in_.clear();
        in_.seekg(static_cast<std::streamoff>(offset));
        in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
        return in_ && static_cast<std::uint64_t>(in_.gcount()) == n;
    }

    void open() {
        namespace fs = std::filesystem;
        std::error_code ec;
        const auto st = fs::status(path_, ec);
        if (!fs::exists(st)) throw IoError(prefix() + "does not exist; check the path.");
        if (fs::is_directory(st)) throw IoError(prefix() + "is a directory; give the path of a .safetensors file.");
        in_.open(path_, std::ios::binary);
        if (!in_) throw IoError(prefix() + "exists but could not be opened; check its permissions.");
        // The length comes from the file, never from the header, so a lying
        // header cannot make us allocate or read more than the file holds.
        in_.seekg(0, std::ios::end);
        const std::streamoff end = in_.tellg();
        if (!in_ || end < 0) throw IoError(prefix() + "is not a seekable regular file; copy it to a regular file.");
        file_size_ = static_cast<std::uint64_t>(end);
    }

    void parse_header() {
        if (file_size_ < 8)
            fail("is " + std::to_string(file_size_) + " bytes long, too short for the 8-byte header length (truncated)");
        unsigned char len[8];
        if (!read_at(0, len, 8)) fail("could not be read (I/O error in the header length)");
        std::uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
        if (n > file_size_ - 8)
            fail("declares a JSON header of " + std::to_string(n) + " bytes but only " + std::to_string(file_size_ - 8) +
                 " bytes follow the header length (header length beyond the end of the file: truncated)");
        if (n > max_header_bytes)
            fail("declares a JSON header of " + std::to_string(n) + " bytes, more than the 100 MiB safetensors limit");
        if (n < 2) fail("declares a JSON header of " + std::to_string(n) + " bytes, too short for a JSON object");
        std::string text(static_cast<std::size_t>(n), '\0');
        if (!read_at(8, text.data(), text.size())) fail("could not be read (I/O error in the JSON header)");
        data_start_ = 8 + n;
        data_size_ = file_size_ - data_start_;

        json::Value root;
        try {
            root = json::parse(text);
        } catch (const json::SyntaxError& e) {
            fail(std::string("has a malformed JSON header: ") + e.what());
        }
        if (root.kind != json::Value::Kind::object)
            fail(std::string("has a JSON header that is ") + json::Value::kind_name(root.kind) + ", not an object");
        for (auto& [name, v] : root.members) {
            if (name == "__metadata__") read_metadata(v);
            else tensors_.push_back(read_entry(name, v));
        }
    }

    void read_metadata(const json::Value& v) {
        if (v.kind != json::Value::Kind::object)
            fail(std::string("has \"__metadata__\" that is ") + json::Value::kind_name(v.kind) + ", not an object of strings");
        for (const auto& [k, s] : v.members) {
            if (s.kind != json::Value::Kind::string)
                fail("has metadata \"" + k + "\" that is " + json::Value::kind_name(s.kind) + "; metadata values must be strings");
            metadata_.emplace(k, s.string);
        }
    }

    TensorEntry read_entry(const std::string& name, const json::Value& v) const {
        using K = json::Value::Kind;
        if (v.kind != K::object) fail(std::string("is described by ") + json::Value::kind_name(v.kind) + ", not an object", name);
        for (const auto& [k, _] : v.members)
            if (k != "dtype" && k != "shape" && k != "data_offsets")
                fail("has an unknown field \"" + k + "\" (allowed: dtype, shape, data_offsets)", name);
        const json::Value* dtype = v.find("dtype");
        const json::Value* shape = v.find("shape");
        const json::Value* offsets = v.find("data_offsets");
        if (!dtype || !shape || !offsets)
            fail(std::string("lacks the field ") + (!dtype ? "dtype" : !shape ? "shape" : "data_offsets") +
                     " (each tensor needs dtype, shape and data_offsets)",
                 name);

        TensorEntry t;
        t.name = name;
        if (dtype->kind != K::string) fail("has a dtype that is not a string", name);
        const auto d = parse_dtype(dtype->string);
        if (!d) fail("has the unknown dtype \"" + dtype->string + "\"", name);
        t.dtype = *d;

        if (shape->kind != K::array) fail("has a shape that is not an array", name);
        std::uint64_t count = 1;
        for (const auto& e : shape->items) {
            if (e.kind != K::integer || e.negative) fail("has a shape entry that is not a non-negative integer", name);
            if (e.integer != 0 && count > std::numeric_limits<std::uint64_t>::max() / e.integer)
                fail("has a shape whose element count overflows 64 bits", name);
            count *= e.integer;
            t.shape.push_back(e.integer);
        }
        if (offsets->kind != K::array || offsets->items.size() != 2)
            fail("has data_offsets that are not an array [begin, end]", name);
        for (const auto& e : offsets->items)
            if (e.kind != K::integer || e.negative) fail("has data_offsets that are not non-negative integers", name);
        t.begin = offsets->items[0].integer;
        t.end = offsets->items[1].integer;
        if (t.begin > t.end)
            fail("has data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "] that end before they begin", name);
        if (count > std::numeric_limits<std::uint64_t>::max() / dtype_size(t.dtype) ||
            count * dtype_size(t.dtype) != t.bytes())
            fail("has shape " + t.shape_string() + " of " + dtype->string + ", which needs " +
                     (count > std::numeric_limits<std::uint64_t>::max() / dtype_size(t.dtype)
                          ? std::string("more than 2^64")
                          : std::to_string(count * dtype_size(t.dtype))) +
                     " bytes, but its data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                     "] hold " + std::to_string(t.bytes()) + " bytes (shape and offsets disagree)",
                 name);
        if (t.end > data_size_)
            fail("has data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                     "] past the end of the data, which holds " + std::to_string(data_size_) + " bytes (truncated file)",
                 name);
        return t;
    }

    // The tensors must tile the data section: sorted by offset, each begins
    // where the previous one ended, and the last ends at the end of the file.
    void check_layout() const {
        std::vector<std::size_t> order(tensors_.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return std::pair(tensors_[a].begin, tensors_[a].end) < std::pair(tensors_[b].begin, tensors_[b].end);
        });
        std::uint64_t cursor = 0;
        const TensorEntry* previous = nullptr;
        for (const std::size_t i : order) {
            const TensorEntry& t = tensors_[i];
            if (t.begin < cursor)
                fail("has data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                         "] that overlap tensor '" + previous->name + "' [" + std::to_string(previous->begin) + ", " +
                         std::to_string(previous->end) + "]",
                     t.name);
            if (t.begin > cursor)
                fail("begins at byte " + std::to_string(t.begin) + " of the data, leaving a gap of " +
                         std::to_string(t.begin - cursor) + " unused bytes before it",
                     t.name);
            cursor = t.end;
            previous = &t;
        }
        if (cursor != data_size_)
            fail("has " + std::to_string(data_size_ - cursor) + " bytes of data after the last tensor (the tensors use " +
                 std::to_string(cursor) + " of " + std::to_string(data_size_) + " bytes)");
    }

    std::filesystem::path path_;
    mutable std::ifstream in_;      // open when reading a file ...
    std::vector<std::byte> bytes_;  // ... else the bytes in memory
    std::uint64_t file_size_ = 0, data_start_ = 0, data_size_ = 0;
    std::vector<TensorEntry> tensors_;
    std::map<std::string, std::string, std::less<>> metadata_;
};

/// Collects tensors and metadata, then writes them as one safetensors file
/// (atomically: see atomic_file.hpp). Tensors are stored in the order added.
class SafetensorsWriter {
public:
    /// Adds `values` (shape's product of them) under `name`, as dtype_of<T>().
    template <class T>
    void add(std::string name, std::vector<std::uint64_t> shape, std::span<const T> values) {
        std::vector<std::byte> bytes(values.size_bytes());
        if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
        add_bytes(std::move(name), dtype_of<T>(), std::move(shape), std::move(bytes));
    }
    /// Adds raw little-endian bytes of any dtype.
    void add_bytes(std::string name, Dtype dtype, std::vector<std::uint64_t> shape, std::vector<std::byte> bytes) {
        detail::require(name != "__metadata__", "SafetensorsWriter: \"__metadata__\" is reserved and cannot name a tensor");
        detail::require(names_.insert(name).second, "SafetensorsWriter: the tensor name '" + name + "' is used twice");
        std::uint64_t count = 1;
        for (auto d : shape) count *= d;
        detail::require(count * dtype_size(dtype) == bytes.size(),
                        "SafetensorsWriter: tensor '" + name + "' has " + std::to_string(bytes.size()) + " bytes but its shape needs " +
                            std::to_string(count * dtype_size(dtype)));
        tensors_.push_back({std::move(name), dtype, std::move(shape), std::move(bytes)});
    }
    void set_metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }

    /// The JSON header, padded with spaces so the data starts 8-byte aligned.
    std::string header() const {
        std::string h = "{";
        auto sep = [&] {
            if (h.size() > 1 && h.back() != '{') h += ',';
        };
        if (!metadata_.empty()) {
            h += "\"__metadata__\":{";
            for (const auto& [k, v] : metadata_) sep(), h.append(json::quote(k)).append(":").append(json::quote(v));
            h += "}";
        }
        std::uint64_t offset = 0;
        for (const auto& t : tensors_) {
            sep();
            h.append(json::quote(t.name)).append(":{\"dtype\":\"").append(dtype_name(t.dtype)).append("\",\"shape\":[");
            for (std::size_t i = 0; i < t.shape.size(); ++i) {
                if (i) h += ',';
                h += std::to_string(t.shape[i]);
            }
            h.append("],\"data_offsets\":[").append(std::to_string(offset)).append(",");
            offset += t.bytes.size();
            h.append(std::to_string(offset)).append("]}");
        }
        h += "}";
        while ((8 + h.size()) % 8 != 0) h += ' ';
        return h;
    }

    /// Writes the file; `what` starts error messages (default "write '<path>'").
    void write(const std::filesystem::path& path, std::string what = {}) const {
        if (what.empty()) what = "write '" + path.string() + "'";
        const std::string h = header();
        std::byte len[8];
        for (int i = 0; i < 8; ++i) len[i] = static_cast<std::byte>((std::uint64_t(h.size()) >> (8 * i)) & 0xFF);
        std::vector<std::span<const std::byte>> parts{std::span<const std::byte>(len, 8),
                                                      std::as_bytes(std::span<const char>(h.data(), h.size()))};
        for (const auto& t : tensors_) parts.emplace_back(t.bytes);
        write_file_atomically(path, parts, what);
    }

private:
    struct Item {
        std::string name;
        Dtype dtype;
        std::vector<std::uint64_t> shape;
        std::vector<std::byte> bytes;
    };
    std::vector<Item> tensors_;
    std::unordered_set<std::string> names_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace typenet
