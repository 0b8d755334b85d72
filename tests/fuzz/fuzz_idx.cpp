// libFuzzer target: read_idx on arbitrary bytes. A DataError is the promised
// answer to a bad file; any other exception, a crash, a sanitizer report, a
// leak or an allocation beyond libFuzzer's -malloc_limit_mb is a finding.
#include <typenet/data/idx.hpp>

#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const typenet::IdxArray a = typenet::read_idx({data, size}, "fuzz.idx");
        std::uint64_t count = 1;
        for (const auto d : a.dims) count *= d;
        fuzz::check(a.rank() >= 1 && a.rank() <= 4, "an accepted IDX file has 1 to 4 dimensions");
        fuzz::check(count == a.data.size(), "an accepted IDX file holds exactly the product of its dimensions");
    } catch (const typenet::DataError&) {
    }
    return 0;
}
