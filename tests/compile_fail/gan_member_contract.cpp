// Must not compile: a set member without the member contract (here: no generator_terms).
#include "train/toy_gan.hpp"

struct CriticWithoutGeneratorTerms {
  static constexpr std::string_view name = "half-critic";
  static constexpr std::string_view prefix = "D";
  using consumes = chord::Signals<toy_gan::Fake, toy_gan::Real>;
  using Module = toy_gan::Critic;
  Module make_module() const { return toy_gan::Critic(4); }
  torch::Tensor discriminator_loss(Module&, const chord::GeneratorOutputs&) const { return {}; }
  std::shared_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor>) const { return nullptr; }
  chord::train::LrSchedule schedule() const { return chord::train::constant_lr(1e-3); }
};
struct GanWithHalfCritic : toy_gan::OneCritic {
  using discriminators = chord::disc::Set<CriticWithoutGeneratorTerms>;
};
static_assert(sizeof(chord::GanModelImpl<GanWithHalfCritic>) > 0);
