// typenet/io/snapshot.hpp - keep a model's state in memory and go back to it.
//
// The reference articles "reset to the initial weights" to retrain from the
// same start:
//     auto initial = tn::snapshot(model);   // right after construction
//     tn::fit(model, ...);
//     tn::restore(model, initial);          // as freshly built again
// A snapshot is a host copy of the parameters, the buffers (BatchNorm running
// statistics) and the random generator; restore() also resets the model's
// optimizer state (moments and step count), so training again after it
// repeats the first run exactly. For a copy on disk use save() / load().
#pragma once

#include <vector>

#include "../core/random.hpp"

namespace typenet {

/// A host copy of a Model<Net, ..., T>'s state. Typed by the network, so
/// restoring into a different network is a compile error, not a runtime one.
template <class Net, class T>
struct Snapshot {
    std::vector<T> parameters;  // the flat parameter buffer
    std::vector<T> buffers;     // the flat buffer of running statistics
    Rng::State rng{};
};

/// Copies the model's parameters, buffers and generator state to the host.
template <class M>
Snapshot<typename M::network, typename M::scalar> snapshot(M& model) {
    return {model.parameters().to_host(), model.buffers().to_host(), model.rng().state()};
}

/// Puts a snapshot back: parameters, buffers and generator as they were when
/// it was taken, and the optimizer state (moments, step count) reset as in a
/// new model, so learning-rate decay and Adam's bias correction restart too.
template <class M>
void restore(M& model, const Snapshot<typename M::network, typename M::scalar>& s) {
    model.parameters().from_host(s.parameters);
    model.buffers().from_host(s.buffers);
    model.rng().set_state(s.rng);
    model.optimizer_state().reset();
}

}  // namespace typenet
