// typenet/distributed/nccl.cuh - a Communicator for the CUDA backend: the
// gradients and weights are reduced and broadcast by NCCL on the backend's
// own stream (so they are ordered after the backward pass without a host
// sync), while the small host-side agreements (metrics, failure flags,
// messages) and NCCL's unique id go over MPI. Compiled by nvcc; CMake target
// typenet::nccl (typenet::cuda + typenet::mpi + libnccl).
//
//   tn::mpi::Session mpi(argc, argv);
//   tn::mpi::Communicator world;
//   cudaSetDevice(tn::mpi::local_rank(world));     // one GPU per rank, before any CUDA work
//   tn::Model<Net, tn::Cuda> model{42};
//   tn::NcclCommunicator nccl(world, model.backend());
//   tn::fit(model, opt, loss, data, {.batch_size = 256, .communicator = &nccl});
#pragma once

#include <nccl.h>

#include <string>

#include "../backend/cuda/check.cuh"
#include "../backend/cuda/cuda.cuh"
#include "../core/error.hpp"
#include "../train/communicator.hpp"
#include "mpi.hpp"

namespace typenet {

namespace nccl_detail {
inline void check(ncclResult_t r, const char* call) {
    if (r == ncclSuccess) [[likely]]
        return;
    throw DistributedError(std::string("NCCL: ") + call + " failed: " + ncclGetErrorString(r) +
                           (r == ncclSystemError || r == ncclRemoteError
                                ? " (a network or peer failure; NCCL_DEBUG=WARN says more)"
                                : ""));
}
}  // namespace nccl_detail

class NcclCommunicator final : public Communicator {
public:
    /// A NCCL communicator over the ranks of `host` (collective: every rank
    /// constructs one at the same point), working on `backend`'s stream. The
    /// GPU is the current device: select it (cudaSetDevice) before.
    NcclCommunicator(mpi::Communicator& host, const Cuda& backend) : host_(host), stream_(backend.stream()) {
        ncclUniqueId id{};
        if (host_.rank() == 0) nccl_detail::check(ncclGetUniqueId(&id), "ncclGetUniqueId");
        host_.broadcast_host(&id, sizeof id, 0);
        nccl_detail::check(ncclCommInitRank(&comm_, host_.size(), id, host_.rank()), "ncclCommInitRank");
    }
    NcclCommunicator(const NcclCommunicator&) = delete;
    NcclCommunicator& operator=(const NcclCommunicator&) = delete;
    ~NcclCommunicator() override {
        if (comm_) ncclCommDestroy(comm_);
    }

    int rank() const override { return host_.rank(); }
    int size() const override { return host_.size(); }
    std::string description() const override {
        int version = 0;
        ncclGetVersion(&version);
        return "NCCL " + std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + ", " +
               std::to_string(size()) + " ranks";
    }

    void allreduce_sum(float* data, std::size_t n) override { reduce(data, n, ncclFloat); }
    void allreduce_sum(double* data, std::size_t n) override { reduce(data, n, ncclDouble); }
    void broadcast(void* data, std::size_t bytes, int root) override {
        if (bytes == 0) return;
        nccl_detail::check(ncclBroadcast(data, data, bytes, ncclChar, root, comm_, stream_), "ncclBroadcast");
    }
    void allreduce_host(double* data, std::size_t n, ReduceOp op) override { host_.allreduce_host(data, n, op); }
    void broadcast_host(void* data, std::size_t bytes, int root) override { host_.broadcast_host(data, bytes, root); }
    void barrier() override {
        TYPENET_CUDA_CHECK(cudaStreamSynchronize(stream_));
        host_.barrier();
    }
    ncclComm_t native() const { return comm_; }

private:
    void reduce(void* data, std::size_t n, ncclDataType_t type) {
        if (n == 0) return;
        nccl_detail::check(ncclAllReduce(data, data, n, type, ncclSum, comm_, stream_), "ncclAllReduce");
    }
    mpi::Communicator& host_;
    cudaStream_t stream_;
    ncclComm_t comm_ = nullptr;
};

}  // namespace typenet
