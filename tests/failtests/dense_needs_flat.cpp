// Must not compile with TYPENET_FAILTEST: Dense directly on an image.
#include <typenet/typenet.hpp>

namespace tn = typenet;

#ifdef TYPENET_FAILTEST
using Net = tn::Sequential<tn::Input<1, 28, 28>, tn::Dense<10>>;
#else
using Net = tn::Sequential<tn::Input<784>, tn::Dense<10>>;
#endif

int main() { return Net::parameter_count == 7850 ? 0 : 1; }
