// typenet/core/device.hpp - where a tensor's memory lives.
//
// A Device is a tag type with static allocate / deallocate / copy functions.
// HostDevice is ordinary (64-byte aligned) memory; the CUDA backend adds
// CudaDevice in backend/cuda.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <string>

#include "error.hpp"

namespace typenet {

/// Host (CPU) memory, 64-byte aligned so SIMD loads never split cache lines.
struct HostDevice {
    static constexpr const char* name = "cpu";
    /// The host may read and write this memory directly (device_traits below).
    static constexpr bool host_accessible = true;
    static constexpr std::size_t alignment = 64;

    static void* allocate(std::size_t bytes) {
        if (bytes == 0) return nullptr;
        try {
            return ::operator new(bytes, std::align_val_t{alignment});
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
