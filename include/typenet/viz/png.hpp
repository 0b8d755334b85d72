// typenet/viz/png.hpp - writes 8-bit PNG files through stb_image_write.
//
// The encoder is Debian's libstb-dev (stb/stb_image_write.h); typenet ships
// none of its own. typenet is header-only, so the stb implementation is
// compiled here as STB_IMAGE_WRITE_STATIC: every translation unit that
// includes this header gets a private (static) copy. That costs a few KB of
// code per TU that writes PNGs, and in exchange users need no "define this
// macro in exactly one file" step and can never get duplicate symbols. (A TU
// that also includes stb_image_write.h itself without STB_IMAGE_WRITE_STATIC
// must include it after this header, so it sees the static declarations.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"

#ifndef STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define TYPENET_UNDEF_STB_IMPL
#endif
#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#else
#include <stb_image_write.h>
#endif
#ifdef TYPENET_UNDEF_STB_IMPL
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#undef TYPENET_UNDEF_STB_IMPL
#endif

namespace typenet::viz {

namespace detail {
/// Writes bytes to path through a temporary file in the same directory and a
/// rename, so an interrupted write never leaves a truncated image behind.
inline void write_file_atomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes,
                                  const std::string& where) {
    namespace fs = std::filesystem;
    // A random suffix keeps concurrent writers of the same file apart.
    const fs::path tmp = path.parent_path() / (path.filename().string() + ".tmp" + std::to_string(std::random_device{}()));
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out)
            throw IoError(where + ": could not create '" + tmp.string() +
                          "'; check that the directory exists and is writable.");
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        out.close();
        if (!out) {
            std::error_code ignored;
            fs::remove(tmp, ignored);
            throw IoError(where + ": writing '" + tmp.string() + "' failed; check the free disk space.");
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        std::error_code ignored;
        fs::remove(tmp, ignored);
        throw IoError(where + ": could not rename '" + tmp.string() + "' to '" + path.string() + "': " + ec.message());
    }
}
}  // namespace detail

/// Writes a width x height image of `channels` (1 gray, 2 gray+alpha, 3 RGB,
/// 4 RGBA) 8-bit samples per pixel, rows top to bottom, to a PNG file.
/// Throws ArgumentError on inconsistent sizes, IoError naming the file when
/// it cannot be written.
inline void write_png(const std::filesystem::path& path, std::size_t width, std::size_t height, std::size_t channels,
                      std::span<const std::uint8_t> pixels) {
    const std::string where = "write_png('" + path.string() + "')";
    typenet::detail::require(width > 0 && height > 0 && width < (1u << 24) && height < (1u << 24),
                             where + ": the image is " + std::to_string(width) + "x" + std::to_string(height) +
                                 "; both sides must be between 1 and 2^24 pixels");
    typenet::detail::require(channels >= 1 && channels <= 4,
                             where + ": " + std::to_string(channels) + " channels; PNG takes 1 to 4");
    typenet::detail::require(pixels.size() == width * height * channels,
                             where + ": " + std::to_string(width) + "x" + std::to_string(height) + "x" +
                                 std::to_string(channels) + " needs " + std::to_string(width * height * channels) +
                                 " bytes but " + std::to_string(pixels.size()) + " were given");
    std::vector<std::uint8_t> encoded;
    const int ok = stbi_write_png_to_func(
        [](void* context, void* data, int size) {
            auto* out = static_cast<std::vector<std::uint8_t>*>(context);
            const auto* p = static_cast<const std::uint8_t*>(data);
            out->insert(out->end(), p, p + size);
        },
        &encoded, int(width), int(height), int(channels), pixels.data(), int(width * channels));
    if (!ok) throw IoError(where + ": the PNG encoder failed (out of memory?)");
    detail::write_file_atomically(path, encoded, where);
}

}  // namespace typenet::viz
