// tests/fuzz/fuzz_check.hpp - how a fuzz target reports a broken promise.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace fuzz {

/// Aborts, which libFuzzer reports as a crash and saves the input for, when a
/// property the library promises does not hold for an input.
inline void check(bool ok, const char* property) {
    if (ok) return;
    std::fprintf(stderr, "fuzz: property violated: %s\n", property);
    std::abort();
}

}  // namespace fuzz
