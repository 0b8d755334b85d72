// Must not compile with TYPENET_FAILTEST: a convolution with stride 0.
#include <typenet/typenet.hpp>

namespace tn = typenet;

#ifdef TYPENET_FAILTEST
using Net = tn::Sequential<tn::Input<1, 8, 8>, tn::Conv2D<4, 3, 0>>;
#else
using Net = tn::Sequential<tn::Input<1, 8, 8>, tn::Conv2D<4, 3, 2>>;
#endif

int main() { return Net::layer_count == 1 ? 0 : 1; }
