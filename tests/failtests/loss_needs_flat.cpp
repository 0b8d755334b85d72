// Must not compile with TYPENET_FAILTEST: a loss on a (C,H,W) output.
#include <typenet/typenet.hpp>

namespace tn = typenet;

int main() {
#ifdef TYPENET_FAILTEST
    using Net = tn::Sequential<tn::Input<1, 4, 4>, tn::ReLU>;
#else
    using Net = tn::Sequential<tn::Input<16>, tn::ReLU>;
#endif
    tn::Model<Net> model{1};
    tn::Dataset d;
    if (!d.empty()) (void)tn::evaluate(model, d, tn::SoftmaxCrossEntropy{});
    return 0;
}
