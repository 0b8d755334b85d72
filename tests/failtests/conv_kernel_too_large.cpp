// Must not compile with TYPENET_FAILTEST: a 3x3 valid convolution on a 2x2 map.
#include <typenet/typenet.hpp>

namespace tn = typenet;

#ifdef TYPENET_FAILTEST
using Net = tn::Sequential<tn::Input<1, 6, 6>, tn::MaxPool2D<3>, tn::Conv2D<4, 3>>;
#else
using Net = tn::Sequential<tn::Input<1, 6, 6>, tn::MaxPool2D<2>, tn::Conv2D<4, 3>>;
#endif

int main() { return Net::parameter_count == 40 ? 0 : 1; }
