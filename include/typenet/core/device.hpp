// typenet/core/device.hpp - where a tensor's memory lives.
//
// A Device is a tag type with static allocate / deallocate / copy functions.
// HostDevice is ordinary (64-byte aligned) memory, large blocks on huge
// pages where Linux offers them; the CUDA backend adds CudaDevice in
// backend/cuda.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#if defined(__linux__) && __has_include(<sys/mman.h>)
#include <sys/mman.h>
#endif

#include "error.hpp"

namespace typenet {

namespace detail {

/// Blocks from this size on ask for transparent huge pages.
inline constexpr std::size_t huge_page_min_bytes = std::size_t{4} << 20;

/// Marks the 2 MiB-aligned interior of a large block [p, p + bytes) for
/// transparent huge pages (Linux; Debian's THP setting "madvise" gives them
/// only to such ranges). Why: each 4 KiB page's first touch is a fault, and
/// in a VM a costly one: zeroing MNIST's 188 MB of floats took 626 ms on
/// 4 KiB pages and 20 ms on 2 MiB pages (Zen 5 guest), and later passes
/// over the memory ran 2x faster (fewer TLB misses). TYPENET_HUGE_PAGES=0
/// turns it off. Best effort: a failure leaves ordinary pages.
inline void advise_huge_pages([[maybe_unused]] void* p, [[maybe_unused]] std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes < huge_page_min_bytes) return;
    if (const char* env = std::getenv("TYPENET_HUGE_PAGES"); env && std::strcmp(env, "0") == 0) return;
    constexpr std::uintptr_t huge = std::uintptr_t{1} << 21;
    const auto begin = (reinterpret_cast<std::uintptr_t>(p) + huge - 1) & ~(huge - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(huge - 1);
    if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
}

}  // namespace detail

/// Host (CPU) memory, 64-byte aligned so SIMD loads never split cache lines.
struct HostDevice {
    static constexpr const char* name = "cpu";
    /// The host may read and write this memory directly (device_traits below).
    static constexpr bool host_accessible = true;
    static constexpr std::size_t alignment = 64;

    static void* allocate(std::size_t bytes) {
        if (bytes == 0) return nullptr;
        try {
            void* p = ::operator new(bytes, std::align_val_t{alignment});
            detail::advise_huge_pages(p, bytes);
            return p;
        } catch (const std::bad_alloc&) {
            throw BackendError("typenet: could not allocate " + std::to_string(bytes) +
                               " bytes of host memory; reduce the batch size or the dataset size");
        }
    }
    static void deallocate(void* p) noexcept {
        if (p) ::operator delete(p, std::align_val_t{alignment});
    }
    static void copy(void* dst, const void* src, std::size_t bytes) {
        if (bytes) std::memcpy(dst, src, bytes);
    }
    static void zero(void* dst, std::size_t bytes) {
        if (bytes) std::memset(dst, 0, bytes);
    }
    // Transfers to / from the host are plain copies here.
    static void to_host(void* dst, const void* src, std::size_t bytes) { copy(dst, src, bytes); }
    static void from_host(void* dst, const void* src, std::size_t bytes) { copy(dst, src, bytes); }
};

/// True when memory of Device is the host's own, so a host pointer can be
/// used as is (no copy) and reading a value costs no device wait. The one
/// place generic code asks "is this host memory".
template <class Device>
inline constexpr bool is_host_memory = Device::host_accessible;

}  // namespace typenet
