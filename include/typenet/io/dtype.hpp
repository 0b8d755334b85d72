// typenet/io/dtype.hpp - the element types of safetensors files and their conversions.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>

namespace typenet {

// safetensors stores little-endian data; typenet copies it without swapping.
static_assert(std::endian::native == std::endian::little,
              "typenet's safetensors reader and writer assume a little-endian machine");

/// The dtypes of the safetensors format (its spelling, e.g. "F32").
enum class Dtype : std::uint8_t { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64 };

namespace dtype_detail {
struct Info {
    Dtype dtype;
    std::string_view name;
    std::size_t size;
};
inline constexpr std::array<Info, 15> table{{{Dtype::BOOL, "BOOL", 1},
                                             {Dtype::U8, "U8", 1},
                                             {Dtype::I8, "I8", 1},
                                             {Dtype::F8_E5M2, "F8_E5M2", 1},
                                             {Dtype::F8_E4M3, "F8_E4M3", 1},
                                             {Dtype::I16, "I16", 2},
                                             {Dtype::U16, "U16", 2},
                                             {Dtype::F16, "F16", 2},
                                             {Dtype::BF16, "BF16", 2},
                                             {Dtype::I32, "I32", 4},
                                             {Dtype::U32, "U32", 4},
                                             {Dtype::F32, "F32", 4},
                                             {Dtype::I64, "I64", 8},
                                             {Dtype::U64, "U64", 8},
                                             {Dtype::F64, "F64", 8}}};
}  // namespace dtype_detail

constexpr std::string_view dtype_name(Dtype d) { return dtype_detail::table[static_cast<std::size_t>(d)].name; }
/// Bytes per element.
constexpr std::size_t dtype_size(Dtype d) { return dtype_detail::table[static_cast<std::size_t>(d)].size; }
/// "F32" -> Dtype::F32; nullopt for a name safetensors does not define.
constexpr std::optional<Dtype> parse_dtype(std::string_view name) {
    for (const auto& i : dtype_detail::table)
        if (i.name == name) return i.dtype;
    return std::nullopt;
}
/// The dtypes typenet converts to a model's float or double.
constexpr bool is_readable_float(Dtype d) {
    return d == Dtype::F16 || d == Dtype::BF16 || d == Dtype::F32 || d == Dtype::F64;
}

/// The dtype that stores a C++ type exactly (float -> F32, double -> F64, ...).
template <class T>
constexpr Dtype dtype_of() {
    if constexpr (std::is_same_v<T, float>) return Dtype::F32;
    else if constexpr (std::is_same_v<T, double>) return Dtype::F64;
    else if constexpr (std::is_same_v<T, std::uint8_t>) return Dtype::U8;
    else if constexpr (std::is_same_v<T, std::int8_t>) return Dtype::I8;
    else if constexpr (std::is_same_v<T, std::int32_t>) return Dtype::I32;
    else if constexpr (std::is_same_v<T, std::uint32_t>) return Dtype::U32;
    else if constexpr (std::is_same_v<T, std::int64_t>) return Dtype::I64;
    else if constexpr (std::is_same_v<T, std::uint64_t>) return Dtype::U64;
    else static_assert(sizeof(T) == 0, "dtype_of<T>: T has no safetensors dtype (use float, double or a fixed-width integer)");
}

/// IEEE half (binary16) bits to float; exact, including subnormals, inf and NaN.
inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    if (exp == 0) {  // zero or subnormal: man * 2^-24
        const float v = std::ldexp(float(man), -24);
        return sign ? -v : v;
    }
    const std::uint32_t bits = exp == 31 ? (sign | 0x7F800000u | (man << 13)) : (sign | ((exp + 112) << 23) | (man << 13));
    return std::bit_cast<float>(bits);
}
/// bfloat16 bits to float (the upper half of a float32); exact.
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }

/// Converts `count` little-endian elements of a floating dtype at `src` to T.
/// Requires is_readable_float(d).
template <class T>
void convert_floats(Dtype d, const std::byte* src, std::size_t count, T* dst) {
    for (std::size_t i = 0; i < count; ++i) {
        switch (d) {
            case Dtype::F16:
            case Dtype::BF16: {
                std::uint16_t b;
                std::memcpy(&b, src + 2 * i, 2);
                dst[i] = T(d == Dtype::F16 ? half_to_float(b) : bfloat16_to_float(b));
                break;
            }
            case Dtype::F32: {
                float f;
                std::memcpy(&f, src + 4 * i, 4);
                dst[i] = T(f);
                break;
            }
            default: {  // F64
                double f;
                std::memcpy(&f, src + 8 * i, 8);
                dst[i] = T(f);
                break;
            }
        }
    }
}

}  // namespace typenet
