// tests/cuda/test_cuda_nccl.cu - data-parallel fit on the CUDA backend with
// NCCL (distributed/nccl.cuh), run by ctest as `mpirun -np 2`: 2 ranks with
// a global batch of 20 against 1 process with batch 20, as the MPI tests do
// on the CPU (tests/distributed). Needs a GPU per rank; exits 77 (skipped)
// otherwise, with the reason.
#include <typenet/distributed/nccl.cuh>
#include <typenet/typenet.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace tn = typenet;
using Mlp = tn::Sequential<tn::Input<12>, tn::Dense<16>, tn::ReLU, tn::Dense<3>>;

int main(int argc, char** argv) {
    tn::mpi::Session session(argc, argv);
    tn::mpi::Communicator world;
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
    const int local = tn::mpi::local_rank(world);
    double enough = local < devices ? 1.0 : 0.0;
    world.allreduce_host(&enough, 1, tn::ReduceOp::min);
    if (enough == 0.0) {
        if (world.rank() == 0)
            std::printf("skipped: NCCL needs one GPU per rank; this machine has %d for %d ranks\n", devices,
                        world.size());
        return 77;
    }
    TYPENET_CUDA_CHECK(cudaSetDevice(local));
    tn::Dataset d;
    d.name = "toy";
    d.classes = 3;
    d.images.resize(tn::Dims{200, 12});
    d.labels.resize(200);
    tn::Rng rng(1);
    for (std::size_t i = 0; i < 200; ++i) {
        for (std::size_t f = 0; f < 12; ++f) d.images[i * 12 + f] = float(rng.uniform(-1, 1));
        d.labels[i] = int(i % 3);
    }
    const tn::RMSprop opt{{.learning_rate = 0.01}};
    tn::FitOptions o{.epochs = 2, .batch_size = 20, .verbose = tn::Verbosity::silent};
    tn::Model<Mlp, tn::Cuda> alone{5};
    tn::fit(alone, opt, tn::SoftmaxCrossEntropy<3>{}, d, o);
    tn::Model<Mlp, tn::Cuda> together{5};
    tn::NcclCommunicator nccl(world, together.backend());
    o.communicator = &nccl;
    tn::fit(together, opt, tn::SoftmaxCrossEntropy<3>{}, d, o);
    const auto a = alone.parameters().to_host(), b = together.parameters().to_host();
    double diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff = std::max(diff, double(std::abs(a[i] - b[i])));
    std::printf("rank %d: %s, largest weight difference to 1 process %.3g\n", world.rank(),
                nccl.description().c_str(), diff);
    return diff < 1e-5 ? 0 : 1;
}
