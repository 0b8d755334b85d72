// mnist_distributed - the main job's network and recipe (mnist_cnn), trained
// data-parallel by several processes over MPI.
//
// What: every rank loads MNIST, builds the reference CNN and calls the same
// fit as mnist_cnn with FitOptions::communicator set: --batch (64) is the
// global batch, each rank computes its share of it and the gradients are
// summed over the ranks each step, so N ranks follow mnist_cnn's run (to
// float rounding) and reach its accuracy. Rank 0 prints.
// Run: mpirun -np 2 build/examples/mnist_distributed --threads 1
//      (as root add --allow-run-as-root; on a cluster see docs/distributed.md).
// Threads: --threads is per rank (default 1); ranks x threads should not
// exceed the cores, or they wait on each other at every step.
#include <typenet/distributed/mpi.hpp>

#include "reference_cnn.hpp"

int main(int argc, char** argv) {
    typenet::mpi::Session session(argc, argv);
    typenet::mpi::Communicator world;
    try {
        const example::Args args(argc, argv,
                                 std::string(example::cnn_usage("mpirun -np N mnist_distributed")) +
                                     "  (--batch is the global batch; --threads is per rank, default 1)\n");
        const auto root = example::data_root(args);
        const typenet::Split mnist = typenet::load_mnist(root / "mnist");
        const int threads = int(args.get_int("--threads", 1));
        if (world.rank() == 0)
            std::cout << "MNIST: " << mnist.train.size() << " training and " << mnist.test.size()
                      << " test images from " << (root / "mnist").string() << "; " << world.description() << "\n";
        example::train_reference_cnn_on(args, mnist, 5, "cosine", typenet::Cpu{threads},
                                        "CPU backend, " + std::to_string(threads) + " thread(s) per rank", &world);
        return 0;
    } catch (const typenet::DistributedError& e) {
        // Every rank has it (fit's agreement): each can end normally.
        if (world.rank() == 0) std::cerr << "error: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        // An error on this rank alone (e.g. its data files): the others may
        // be waiting in a collective, so end the whole job.
        std::cerr << "error on rank " << world.rank() << ": " << e.what() << "\n";
        world.abort(1);
    }
}
