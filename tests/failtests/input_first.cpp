// Must not compile with TYPENET_FAILTEST: a Sequential without Input first.
#include <typenet/typenet.hpp>

namespace tn = typenet;

#ifdef TYPENET_FAILTEST
using Net = tn::Sequential<tn::Dense<10>, tn::ReLU>;
#else
using Net = tn::Sequential<tn::Input<3>, tn::Dense<10>, tn::ReLU>;
#endif

int main() { return Net::layer_count == 2 ? 0 : 1; }
