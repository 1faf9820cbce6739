// Must not compile: a plain module (no Batch, provides, generate, losses) as the generator.
#include "train/toy_gan.hpp"

struct GanWithLinearGenerator : toy_gan::OneCritic {
  using generator = torch::nn::Linear;
};
static_assert(sizeof(chord::GanModelImpl<GanWithLinearGenerator>) > 0);
