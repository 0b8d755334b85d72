// typenet/data/idx.hpp - reads and writes IDX files of unsigned bytes (the
// format of MNIST and Fashion-MNIST). The reader trusts nothing in the file:
// every size in the header is checked against the real file length first.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "../core/error.hpp"

namespace typenet {

/// The contents of an IDX file: its dimensions (outermost first) and its
/// row-major bytes; data.size() is the product of dims.
struct IdxArray {
    std::vector<std::uint32_t> dims;
    std::vector<std::uint8_t> data;

    std::size_t rank() const { return dims.size(); }
};

namespace detail {

inline constexpr std::uint8_t idx_ubyte = 0x08;
inline constexpr std::size_t idx_max_rank = 4;  // typenet tensors have at most 4 dims

inline std::string idx_type_name(std::uint8_t code) {
    switch (code) {
        case 0x08: return "unsigned byte";
        case 0x09: return "signed byte";
        case 0x0B: return "int16";
        case 0x0C: return "int32";
        case 0x0D: return "float32";
        case 0x0E: return "float64";
        default: return "unknown";
    }
}

inline std::string hex_byte(std::uint8_t b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(b));
    return buf;
}

inline std::string dims_string(const std::vector<std::uint32_t>& dims) {
    std::string s = "(";
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + ")";
}

/// Builds the DataError text: "IDX file '<path>' <problem>; <what to do>."
inline DataError idx_error(const std::filesystem::path& path, const std::string& problem,
                           const std::string& todo =
                               "the file is corrupt or not an IDX file: download it again "
                               "(for MNIST / Fashion-MNIST re-run cmake/fetch_data.sh)") {
    return DataError("IDX file '" + path.string() + "' " + problem + "; " + todo + ".");
}

/// What an IDX header declares, once checked against the real data length.
struct IdxLayout {
    std::vector<std::uint32_t> dims;
    std::size_t header_size = 0;  // bytes before the data
    std::size_t count = 0;        // data bytes: the product of dims
};

/// Checks the IDX header at the start of `header` (the first bytes of the
/// data, up to 4 + 4 * idx_max_rank of them) against the real length of the
/// data. The file and in-memory readers share it, so they reject the same inputs.
inline IdxLayout idx_parse_header(const std::filesystem::path& path, std::span<const std::uint8_t> header,
                                  std::uint64_t file_size) {
    if (file_size == 0) throw idx_error(path, "is empty (0 bytes)");
    if (file_size < 4)
        throw idx_error(path, "is only " + std::to_string(file_size) +
                                  " bytes long, too short for the 4-byte IDX magic number (truncated)");

    if (header[0] == 0x1F && header[1] == 0x8B)
        throw idx_error(path, "is gzip-compressed (starts with 0x1F 0x8B), not a bare IDX file",
                        "decompress it with gunzip, or run cmake/fetch_data.sh which stores uncompressed files");
    if (header[0] != 0 || header[1] != 0)
        throw idx_error(path, "has a bad magic number: it must start with two zero bytes but starts with " +
                                  hex_byte(header[0]) + " " + hex_byte(header[1]));
    const std::uint8_t type = header[2];
    if (type != idx_ubyte)
        throw idx_error(path, "has element type " + hex_byte(type) + " (" + idx_type_name(type) +
                                  "); typenet only reads unsigned-byte IDX files (type 0x08)",
                        "convert the file to unsigned bytes");
    const std::size_t rank = header[3];
    if (rank < 1 || rank > idx_max_rank)
        throw idx_error(path, "declares " + std::to_string(rank) +
                                  " dimensions; typenet reads IDX files with 1 to 4 dimensions");

    const std::size_t header_size = 4 + 4 * rank;
    if (file_size < header_size)
        throw idx_error(path, "has an incomplete header: " + std::to_string(rank) + " dimensions need a " +
                                  std::to_string(header_size) + "-byte header but the file is only " +
                                  std::to_string(file_size) + " bytes (truncated)");

    IdxLayout out;
    out.header_size = header_size;
    out.dims.resize(rank);
    std::uint64_t count = 1;
    for (std::size_t i = 0; i < rank; ++i) {
        const std::uint8_t* b = header.data() + 4 + 4 * i;  // big-endian
        const std::uint32_t d = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                                (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
        if (d == 0) throw idx_error(path, "has dimension " + std::to_string(i) + " equal to 0 (an empty array)");
        if (count > std::numeric_limits<std::uint64_t>::max() / d)
            throw idx_error(path, "declares dimensions whose product overflows 64 bits (size overflow)");
        count *= d;
        out.dims[i] = d;
    }

    const std::uint64_t payload = file_size - header_size;
    const std::string shape = dims_string(out.dims);
    if (payload < count)
        throw idx_error(path, "is truncated: its header declares " + shape + " = " + std::to_string(count) +
                                  " data bytes, so the file should be " + std::to_string(header_size + count) +
                                  " bytes, but it is " + std::to_string(file_size) + " bytes");
    if (payload > count)
        throw idx_error(path, "has " + std::to_string(payload - count) +
                                  " trailing bytes after the data: its header declares " + shape +
                                  " so the file should be " + std::to_string(header_size + count) +
                                  " bytes, but it is " + std::to_string(file_size) + " bytes");
    if (count > std::numeric_limits<std::size_t>::max() ||
        count > static_cast<std::uint64_t>(std::numeric_limits<std::streamsize>::max()))
        throw idx_error(path, "is too large to load on this platform (" + std::to_string(count) + " bytes)",
                        "use a 64-bit build");
    out.count = static_cast<std::size_t>(count);
    return out;
}

}  // namespace detail

/// Reads an IDX file of unsigned bytes. Throws DataError, naming the file, the
/// problem and the remedy, when the file is missing, unreadable or malformed.
inline IdxArray read_idx(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    using detail::idx_error;

    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (!fs::exists(st))
        throw idx_error(path, "does not exist",
                        "check the path (for MNIST / Fashion-MNIST run cmake/fetch_data.sh, or set TYPENET_DATA)");
    if (fs::is_directory(st)) throw idx_error(path, "is a directory, not a file", "pass the path of the IDX file itself");

    std::ifstream in(path, std::ios::binary);
    if (!in) throw idx_error(path, "exists but could not be opened", "check its permissions");

    // The length comes from the file system, never from the header, so a lying
    // header cannot make us allocate or read more than the file holds.
    in.seekg(0, std::ios::end);
    const std::streamoff end = in.tellg();
    if (!in || end < 0)
        throw idx_error(path, "is not a seekable regular file", "copy the data to a regular file and read that");
    in.seekg(0, std::ios::beg);
    const auto file_size = static_cast<std::uint64_t>(end);

    std::array<std::uint8_t, 4 + 4 * detail::idx_max_rank> header{};
    const auto head = static_cast<std::size_t>(std::min<std::uint64_t>(file_size, header.size()));
    in.read(reinterpret_cast<char*>(header.data()), static_cast<std::streamsize>(head));
    if (!in) throw idx_error(path, "could not be read (I/O error while reading the header)", "check the disk");
    const detail::IdxLayout layout = detail::idx_parse_header(path, std::span(header).first(head), file_size);

    IdxArray out{layout.dims, std::vector<std::uint8_t>(layout.count)};
    in.seekg(static_cast<std::streamoff>(layout.header_size));
    in.read(reinterpret_cast<char*>(out.data.data()), static_cast<std::streamsize>(layout.count));
    if (!in || static_cast<std::uint64_t>(in.gcount()) != layout.count)
        throw idx_error(path, "became shorter while it was being read (" + std::to_string(in.gcount()) + " of " +
                                  std::to_string(layout.count) + " data bytes read)",
                        "make sure no other program is writing it, then try again");
    return out;
}

/// Reads IDX data already in memory, with the same checks as the file reader;
/// `name` stands for the file in error messages.
inline IdxArray read_idx(std::span<const std::uint8_t> bytes, const std::filesystem::path& name) {
    const std::size_t head = std::min<std::size_t>(bytes.size(), 4 + 4 * detail::idx_max_rank);
    const detail::IdxLayout layout = detail::idx_parse_header(name, bytes.first(head), bytes.size());
    const auto data = bytes.subspan(layout.header_size, layout.count);
    return {layout.dims, std::vector<std::uint8_t>(data.begin(), data.end())};
}

/// Writes `bytes` as an unsigned-byte IDX file with the given dimensions. The
/// data goes to a temporary file in the same directory that is then renamed,
/// so readers never see a half-written file under `path`.
inline void write_idx(const std::filesystem::path& path, const std::vector<std::uint32_t>& dims,
                      std::span<const std::uint8_t> bytes) {
    namespace fs = std::filesystem;
    const std::string where = "write_idx('" + path.string() + "')";
    detail::require(!dims.empty() && dims.size() <= detail::idx_max_rank,
                    where + ": an IDX file needs 1 to 4 dimensions, got " + std::to_string(dims.size()));
    std::uint64_t count = 1;
    for (auto d : dims) {
        detail::require(d > 0, where + ": every dimension must be positive, got " + detail::dims_string(dims));
        detail::require(count <= std::numeric_limits<std::uint64_t>::max() / d,
                        where + ": the dimensions " + detail::dims_string(dims) + " overflow 64 bits");
        count *= d;
    }
    detail::require(count == bytes.size(), where + ": dimensions " + detail::dims_string(dims) + " hold " +
                                               std::to_string(count) + " bytes but " +
                                               std::to_string(bytes.size()) + " were given");

    std::vector<std::uint8_t> header{0, 0, detail::idx_ubyte, static_cast<std::uint8_t>(dims.size())};
    for (auto d : dims)
        for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<std::uint8_t>(d >> shift));

    // A random suffix keeps concurrent writers of the same file from clobbering
    // each other's temporary file.
    const fs::path tmp = path.parent_path() /
                         (path.filename().string() + ".tmp" + std::to_string(std::random_device{}()));
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out)
            throw DataError(where + ": could not create '" + tmp.string() +
                            "'; check that the directory exists and is writable.");
        out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        out.close();
        if (!out) {
            std::error_code ignored;
            fs::remove(tmp, ignored);
            throw DataError(where + ": writing '" + tmp.string() + "' failed; check the free disk space.");
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        std::error_code ignored;
        fs::remove(tmp, ignored);
        throw DataError(where + ": could not rename the temporary file into place (" + ec.message() +
                        "); check the directory's permissions.");
    }
}

}  // namespace typenet
