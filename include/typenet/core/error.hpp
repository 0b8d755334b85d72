// typenet/core/error.hpp - the exceptions typenet throws.
//
// Every runtime error says what failed, on which file / tensor / layer, and
// what to do about it. Internal invariants use TYPENET_ASSERT (debug only).
#pragma once

#include <cassert>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace typenet {

/// Base of every exception thrown by typenet.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A function was called with an argument it cannot work with.
class ArgumentError : public Error {
public:
    using Error::Error;
};

/// A data file (IDX, dataset directory) is missing or malformed.
class DataError : public Error {
public:
    using Error::Error;
};

/// A weights / checkpoint file could not be read or written.
class IoError : public Error {
public:
    using Error::Error;
};

/// Training produced a non-finite value (loss, gradient).
class NumericalError : public Error {
public:
    using Error::Error;
};

/// A backend (BLAS, CUDA) call failed.
class BackendError : public Error {
public:
    using Error::Error;
};

/// Data-parallel training (train/communicator.hpp) failed on one of the
/// ranks, or the ranks disagree (network, data, options); every rank throws
/// it with the same message, which names the rank.
class DistributedError : public Error {
public:
    using Error::Error;
};

namespace detail {
/// Throws E with `what` unless `ok`; keeps call sites one line long. `what`
/// is a string, or a callable returning one: a message built from values
/// (`[&] { return "got " + std::to_string(n); }`) is then formatted only on
/// failure, so checks on the training path allocate nothing.
template <class E = ArgumentError, class Message>
inline void require(bool ok, Message&& what) {
    if (ok) [[likely]]
        return;
    if constexpr (std::is_invocable_v<Message&>)
        throw E(std::string(what()));
    else
        throw E(std::string(std::forward<Message>(what)));
}
}  // namespace detail

}  // namespace typenet

#define TYPENET_ASSERT(cond) assert(cond)
