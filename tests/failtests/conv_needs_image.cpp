// Must not compile with TYPENET_FAILTEST: a convolution after Flatten.
#include <typenet/typenet.hpp>

namespace tn = typenet;

#ifdef TYPENET_FAILTEST
using Net = tn::Sequential<tn::Input<1, 8, 8>, tn::Flatten, tn::Conv2D<4, 3>>;
#else
using Net = tn::Sequential<tn::Input<1, 8, 8>, tn::Conv2D<4, 3>, tn::Flatten>;
#endif

int main() { return Net::layer_count == 2 ? 0 : 1; }
