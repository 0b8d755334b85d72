// typenet/train/communicator.hpp - what fit needs from a group of processes
// to train data-parallel: rank, size, all-reduce, broadcast, barrier.
//
// This header knows no MPI or NCCL. Implementations live in
// typenet/distributed/mpi.hpp (MPI, host memory: the CPU backend) and
// typenet/distributed/nccl.cuh (NCCL on the CUDA backend's stream), which
// only programs that link those libraries include. fit calls the interface
// through a pointer (FitOptions::communicator): a few virtual calls per step,
// nothing when no communicator is set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "../core/error.hpp"

namespace typenet {

enum class ReduceOp { sum, min, max };

/// A group of processes that train one model together. Every rank must make
/// the same calls in the same order (collectives); the device calls take
/// memory of the model's backend (host memory on the CPU, GPU memory with
/// NCCL), the *_host calls always host memory.
struct Communicator {
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    /// What fit prints, e.g. "MPI, 2 ranks".
    virtual std::string description() const = 0;

    /// In place: data = the element-wise sum over all ranks (the gradients).
    virtual void allreduce_sum(float* data, std::size_t n) = 0;
    virtual void allreduce_sum(double* data, std::size_t n) = 0;
    /// root's bytes to every rank (the weights at start).
    virtual void broadcast(void* data, std::size_t bytes, int root) = 0;

    /// The same on host memory: metrics, flags, messages.
    virtual void allreduce_host(double* data, std::size_t n, ReduceOp op) = 0;
    virtual void broadcast_host(void* data, std::size_t bytes, int root) = 0;
    virtual void barrier() = 0;
};

namespace detail {

/// One agreement point: every rank calls it at the same place, with its own
/// failure (empty: none). If any rank failed, every rank throws the same
/// DistributedError naming the lowest failing rank and its message, so that
/// no rank is left waiting in a collective the failed one never reaches.
/// `extra` rides along (min over ranks) to save a second reduction.
inline double agree(Communicator& c, const std::string& failure, double extra = 0.0) {
    double v[2] = {failure.empty() ? double(c.size()) : double(c.rank()), extra};
    c.allreduce_host(v, 2, ReduceOp::min);
    if (v[0] >= double(c.size())) return v[1];
    const int root = int(v[0]);
    std::uint64_t len = c.rank() == root ? failure.size() : 0;
    c.broadcast_host(&len, sizeof len, root);
    std::string msg = c.rank() == root ? failure : std::string(len, '\0');
    if (len > 0) c.broadcast_host(msg.data(), len, root);
    throw DistributedError("rank " + std::to_string(root) + " of " + std::to_string(c.size()) + ": " + msg);
}

/// Runs f; with a communicator, an exception from f becomes this rank's
/// failure at the agreement point that follows, so every rank stops. f must
/// make no collective call itself. *extra (read after f) is reduced by min.
template <class F>
double guarded(Communicator* c, F&& f, const double* extra = nullptr) {
    if (!c) {
        f();
        return extra ? *extra : 0.0;
    }
    std::string failure;
    try {
        f();
    } catch (const std::exception& e) {
        failure = e.what();
        if (failure.empty()) failure = "an exception without a message";
    } catch (...) {
        failure = "an exception that is not a std::exception";
    }
    return agree(*c, failure, extra ? *extra : 0.0);
}

/// A 64-bit FNV-1a hash, for comparing network descriptions across ranks.
inline std::uint64_t fnv1a(const std::string& s) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ULL;
    return h;
}

}  // namespace detail
}  // namespace typenet
