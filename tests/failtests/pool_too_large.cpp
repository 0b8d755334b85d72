// Must not compile with TYPENET_FAILTEST: a 4x4 pooling window on a 3x3 map.
#include <typenet/typenet.hpp>

namespace tn = typenet;

#ifdef TYPENET_FAILTEST
using Net = tn::Sequential<tn::Input<2, 5, 5>, tn::Conv2D<2, 3>, tn::MaxPool2D<4>>;
#else
using Net = tn::Sequential<tn::Input<2, 5, 5>, tn::Conv2D<2, 3>, tn::MaxPool2D<3>>;
#endif

int main() { return Net::layer_count == 2 ? 0 : 1; }
