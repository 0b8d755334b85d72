// allreduce_mpi - the time of one gradient all-reduce (what a data-parallel
// fit does once per step) over MPI, at buffer sizes from 4 KB to 16 MB, and
// the latency + bandwidth model fitted to it (docs/distributed.md).
//
//   mpirun -np 2 build/benchmarks/allreduce_mpi [--reps N]
//
// Each size: 5 warm-up calls, then N timed ones (default: enough for about
// 0.3 s, at least 10), each started together (barrier) and timed as the
// slowest rank's; reported: the median. Fit: t = alpha + c * bytes by least
// squares of the relative error over the sizes, with c = 2(p-1)/p / bandwidth for a ring all-reduce,
// so bandwidth = 2(p-1)/p / c. Times are float32 sums through
// typenet::mpi::Communicator::allreduce_sum, as fit calls it.
#include <typenet/distributed/mpi.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
    typenet::mpi::Session session(argc, argv);
    typenet::mpi::Communicator comm;
    long reps_arg = 0;
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--reps") == 0) reps_arg = std::atol(argv[i + 1]);
    const int p = comm.size();
    if (comm.rank() == 0)
        std::printf("MPI all-reduce (sum, float32), %d ranks\n%10s %12s %12s %14s\n", p, "bytes", "median us",
                    "min us", "algbw GB/s");
    std::vector<double> xs, ys;
    for (std::size_t bytes = 4096; bytes <= (std::size_t(16) << 20); bytes *= 4) {
        std::vector<float> buf(bytes / sizeof(float), 1.0f);
        for (int i = 0; i < 5; ++i) comm.allreduce_sum(buf.data(), buf.size());
        // Rank 0's estimate of the repetitions, shared so every rank runs as many.
        comm.barrier();
        double t0 = MPI_Wtime();
        comm.allreduce_sum(buf.data(), buf.size());
        double once = MPI_Wtime() - t0;
        comm.broadcast_host(&once, sizeof once, 0);
        const long reps = reps_arg > 0 ? reps_arg : std::max(10L, long(0.3 / std::max(once, 1e-6)));
        std::vector<double> t(static_cast<std::size_t>(reps));
        for (auto& ti : t) {
            comm.barrier();
            const double s = MPI_Wtime();
            comm.allreduce_sum(buf.data(), buf.size());
            double e = MPI_Wtime() - s;
            comm.allreduce_host(&e, 1, typenet::ReduceOp::max);
            ti = e;
        }
        std::sort(t.begin(), t.end());
        const double med = t[t.size() / 2];
        xs.push_back(double(bytes));
        ys.push_back(med);
        if (comm.rank() == 0)
            std::printf("%10zu %12.1f %12.1f %14.2f\n", bytes, med * 1e6, t.front() * 1e6, double(bytes) / med / 1e9);
    }
    // Least squares t = alpha + c * bytes in relative error (weights 1/t^2):
    // in absolute error the 16 MB point alone would set both terms.
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        const double w = 1.0 / (ys[i] * ys[i]);
        sw += w;
        sx += w * xs[i];
        sy += w * ys[i];
        sxx += w * xs[i] * xs[i];
        sxy += w * xs[i] * ys[i];
    }
    const double c = (sw * sxy - sx * sy) / (sw * sxx - sx * sx), alpha = (sy - c * sx) / sw;
    const double factor = 2.0 * (p - 1) / p;
    if (comm.rank() == 0)
        std::printf("fit: t = %.1f us + bytes x %.3g ns/B; ring model 2(p-1)/p * bytes / B gives B = %.2f GB/s\n",
                    alpha * 1e6, c * 1e9, factor / c / 1e9);
    return 0;
}
