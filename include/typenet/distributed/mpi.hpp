// typenet/distributed/mpi.hpp - a Communicator over MPI, for data-parallel
// fit on host-memory backends (the CPU backend). Include it only in programs
// that link MPI (CMake: typenet::mpi); the core headers never include mpi.h.
//
//   tn::mpi::Session mpi(argc, argv);          // MPI_Init ... MPI_Finalize
//   tn::mpi::Communicator comm;                // MPI_COMM_WORLD
//   tn::fit(model, opt, loss, data, {.batch_size = 64, .communicator = &comm});
//
// Under mpirun, run it as `mpirun -np 2 ./program`; docs/distributed.md.
#pragma once

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "../core/error.hpp"
#include "../train/communicator.hpp"

namespace typenet::mpi {

namespace detail {
inline void check(int rc, const char* what) {
    if (rc == MPI_SUCCESS) [[likely]]
        return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw DistributedError(std::string("MPI: ") + what + " failed: " + std::string(text, std::size_t(len)));
}
inline MPI_Op op(ReduceOp o) { return o == ReduceOp::sum ? MPI_SUM : o == ReduceOp::min ? MPI_MIN : MPI_MAX; }

/// MPI counts are ints: larger buffers go in pieces of at most 2^30 elements.
template <class F>
void in_chunks(std::size_t n, F&& f) {
    constexpr std::size_t chunk = std::size_t(1) << 30;
    for (std::size_t first = 0; first < n; first += chunk) f(first, int(std::min(chunk, n - first)));
}
}  // namespace detail

/// MPI_Init_thread in its constructor, MPI_Finalize in its destructor: one
/// per program, in main. If the program leaves main through an exception that
/// the ranks did not agree on (not a DistributedError), finalizing could wait
/// for ranks that never come, so the destructor aborts the job instead.
class Session {
public:
    Session(int& argc, char**& argv) {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (initialized) return;
        int provided = 0;
        // Only the calling thread talks to MPI (fit's thread); the CPU
        // backend's pool threads never do.
        detail::check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
        owns_ = true;
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session() {
        if (!owns_) return;
        if (std::uncaught_exceptions() > 0) MPI_Abort(MPI_COMM_WORLD, 1);
        MPI_Finalize();
    }

private:
    bool owns_ = false;
};

/// A typenet::Communicator over an MPI communicator (by default
/// MPI_COMM_WORLD); the data pointers are host memory.
class Communicator final : public typenet::Communicator {
public:
    explicit Communicator(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (!initialized)
            throw DistributedError("mpi::Communicator: MPI is not initialised; create a typenet::mpi::Session "
                                   "(or call MPI_Init) at the start of main");
        detail::check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
        detail::check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    }

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    std::string description() const override {
        return "MPI, " + std::to_string(size_) + (size_ == 1 ? " rank" : " ranks");
    }
    MPI_Comm native() const { return comm_; }

    void allreduce_sum(float* data, std::size_t n) override { reduce(data, n, MPI_FLOAT, MPI_SUM); }
    void allreduce_sum(double* data, std::size_t n) override { reduce(data, n, MPI_DOUBLE, MPI_SUM); }
    void broadcast(void* data, std::size_t bytes, int root) override { broadcast_host(data, bytes, root); }
    void allreduce_host(double* data, std::size_t n, ReduceOp op) override {
        reduce(data, n, MPI_DOUBLE, detail::op(op));
    }
    void broadcast_host(void* data, std::size_t bytes, int root) override {
        auto* p = static_cast<char*>(data);
        detail::in_chunks(bytes, [&](std::size_t first, int count) {
            detail::check(MPI_Bcast(p + first, count, MPI_BYTE, root, comm_), "MPI_Bcast");
        });
    }
    void barrier() override { detail::check(MPI_Barrier(comm_), "MPI_Barrier"); }
    /// Ends every rank of the job (MPI_Abort): for errors the ranks cannot agree on.
    [[noreturn]] void abort(int code = 1) const {
        MPI_Abort(comm_, code);
        std::terminate();
    }

private:
    template <class T>
    void reduce(T* data, std::size_t n, MPI_Datatype type, MPI_Op op) {
        detail::in_chunks(n, [&](std::size_t first, int count) {
            detail::check(MPI_Allreduce(MPI_IN_PLACE, data + first, count, type, op, comm_), "MPI_Allreduce");
        });
    }
    MPI_Comm comm_;
    int rank_ = 0, size_ = 1;
};

/// This rank's index among the ranks on the same machine (0, 1, ...): which
/// GPU it should take (cudaSetDevice) when each machine has several.
inline int local_rank(const Communicator& comm) {
    MPI_Comm node = MPI_COMM_NULL;
    detail::check(MPI_Comm_split_type(comm.native(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node),
                  "MPI_Comm_split_type");
    int r = 0;
    MPI_Comm_rank(node, &r);
    MPI_Comm_free(&node);
    return r;
}

}  // namespace typenet::mpi
