// typenet/backend/cpu/batch.hpp - batch gathering and accumulator reads on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu.hpp"

namespace typenet {

/// dst row i = src row idx[i], for count rows of row_size values. A batch's
/// rows are scattered over a dataset far larger than the caches, so each
/// row starts with a memory miss: two threads keep twice the misses in
/// flight (a shuffled MNIST batch of 500 rows took ~230 us on one thread).
template <class T>
void gather_rows(const Cpu& be, std::size_t count, std::size_t row_size, const T* src, const std::uint32_t* idx,
                 T* dst) {
    cpu_detail::parallel_items(be, count, row_size, [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i)
            std::memcpy(dst + i * row_size, src + std::size_t(idx[i]) * row_size, row_size * sizeof(T));
    });
}

/// dst[i] = src[idx[i]].
inline void gather_labels(const Cpu&, std::size_t count, const std::int32_t* src, const std::uint32_t* idx,
                          std::int32_t* dst) {
    for (std::size_t i = 0; i < count; ++i) dst[i] = src[idx[i]];
}

/// Copies the two-double metric accumulator to the host.
inline void read_accumulator(const Cpu&, const double* acc, double* host) {
    host[0] = acc[0];
    host[1] = acc[1];
}

}  // namespace typenet

namespace typenet {

/// dst[i] = src[i] for count values (Flatten's forward and backward).
template <class T>
void copy_values(const Cpu&, std::size_t count, const T* src, T* dst) {
    if (count && src != dst) std::memcpy(dst, src, count * sizeof(T));
}

}  // namespace typenet
