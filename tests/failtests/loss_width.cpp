// Must not compile with TYPENET_FAILTEST: a 10-wide output trained with a
// 12-class loss.
#include <typenet/typenet.hpp>

namespace tn = typenet;

int main() {
    using Net = tn::Sequential<tn::Input<4>, tn::Dense<10>>;
    tn::Model<Net> model{1};
    tn::SGD opt;
    tn::Dataset d;
#ifdef TYPENET_FAILTEST
    tn::SoftmaxCrossEntropy<12> loss;
#else
    tn::SoftmaxCrossEntropy<10> loss;
#endif
    if (!d.empty()) tn::fit(model, opt, loss, d, {.epochs = 1});
    return 0;
}
