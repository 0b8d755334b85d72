// Must not compile with TYPENET_FAILTEST: two callbacks that both set the
// learning rate (the schedule would undo each plateau reduction).
#include <typenet/typenet.hpp>

namespace tn = typenet;

int main() {
    using Net = tn::Sequential<tn::Input<4>, tn::Dense<10>>;
    tn::Model<Net> model{1};
    tn::SGD opt;
    tn::Dataset d;
    tn::ReduceLROnPlateau plateau{{.monitor = "loss"}};
#ifdef TYPENET_FAILTEST
    tn::CosineDecay cosine;
    if (!d.empty()) tn::fit(model, opt, tn::SoftmaxCrossEntropy<10>{}, d, {.epochs = 1}, cosine, plateau);
#else
    if (!d.empty()) tn::fit(model, opt, tn::SoftmaxCrossEntropy<10>{}, d, {.epochs = 1}, plateau);
#endif
    return 0;
}
