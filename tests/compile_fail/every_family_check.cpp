// Must not compile, once for each check of models/spec_checks.hpp that has no case of its own: every
// family's opt-in, value and name requirements, the methods each family needs, the backbone holder
// rules and each missing family of a FlowModel spec. The checks are independent instantiations, so
// one compile reports them all; tests/compile_fail/expect_all.sh requires every message.
#include <chord/systems/f5tts.hpp>

#include <string_view>

namespace {
namespace sys = chord::systems;
using chord::detail::check_backbone;
using chord::detail::check_conditioning;
using chord::detail::check_discriminators;
using chord::detail::check_flow_spec;
using chord::detail::check_guidance;
using chord::detail::check_masking;
using chord::detail::check_objective;
using chord::detail::check_sequence;

// A family member that opts in and nothing else: no name, no methods.
template <class Tag>
struct Bare {
  using policy_category = Tag;
};
// One that opts in and is named, but cannot be copied.
template <class Tag>
struct Uncopyable {
  using policy_category = Tag;
  static constexpr std::string_view name = "uncopyable";
  Uncopyable() = default;
  Uncopyable(const Uncopyable&) = delete;
};
struct NotOptedIn {
  static constexpr std::string_view name = "not opted in";
};

// Conditioning that declares its data but reads none of it.
struct SilentConditioning {
  using policy_category = chord::conditioning_policy_tag;
  static constexpr std::string_view name = "silent";
  using signals = chord::Signals<>;
  struct Batch {};
  struct Request {};
};
// Guidance that declares what it drops but has no training_drop.
struct DeclaringGuidance {
  using policy_category = chord::guidance_policy_tag;
  static constexpr std::string_view name = "declaring";
  using dropped_signals = chord::Signals<>;
};

struct ImplNotModule {
  struct Impl {
    int options = 0;
  };
};
struct ModuleWithoutOptions {
  struct Impl : torch::nn::Module {};
};

// FlowModel specs missing one family each.
struct NoBackbone {
  using conditioning = sys::F5TTS::conditioning;
  using masking = sys::F5TTS::masking;
  using guidance = sys::F5TTS::guidance;
  using sequence = sys::F5TTS::sequence;
  using objective = sys::F5TTS::objective;
};
struct NoConditioning {
  using backbone = sys::F5TTS::backbone;
  using masking = sys::F5TTS::masking;
  using guidance = sys::F5TTS::guidance;
  using sequence = sys::F5TTS::sequence;
  using objective = sys::F5TTS::objective;
};
struct NoGuidance {
  using backbone = sys::F5TTS::backbone;
  using conditioning = sys::F5TTS::conditioning;
  using masking = sys::F5TTS::masking;
  using sequence = sys::F5TTS::sequence;
  using objective = sys::F5TTS::objective;
};
struct NoSequence {
  using backbone = sys::F5TTS::backbone;
  using conditioning = sys::F5TTS::conditioning;
  using masking = sys::F5TTS::masking;
  using guidance = sys::F5TTS::guidance;
  using objective = sys::F5TTS::objective;
};
struct NoObjective {
  using backbone = sys::F5TTS::backbone;
  using conditioning = sys::F5TTS::conditioning;
  using masking = sys::F5TTS::masking;
  using guidance = sys::F5TTS::guidance;
  using sequence = sys::F5TTS::sequence;
};

// `|| true`: the checks' own static_asserts are the errors under test, not this one.
static_assert(check_flow_spec<NoBackbone>() || true);
static_assert(check_flow_spec<NoConditioning>() || true);
static_assert(check_flow_spec<NoGuidance>() || true);
static_assert(check_flow_spec<NoSequence>() || true);
static_assert(check_flow_spec<NoObjective>() || true);

static_assert(check_backbone<ImplNotModule>() || true);
static_assert(check_backbone<ModuleWithoutOptions>() || true);

static_assert(check_conditioning<NotOptedIn>() || true);
static_assert(check_conditioning<Bare<chord::conditioning_policy_tag>>() || true);
static_assert(check_conditioning<Uncopyable<chord::conditioning_policy_tag>>() || true);
static_assert(check_conditioning<SilentConditioning>() || true);

static_assert(check_masking<Bare<chord::masking_policy_tag>>() || true);
static_assert(check_masking<Uncopyable<chord::masking_policy_tag>>() || true);

static_assert(check_guidance<NotOptedIn>() || true);
static_assert(check_guidance<Bare<chord::guidance_policy_tag>>() || true);
static_assert(check_guidance<Uncopyable<chord::guidance_policy_tag>>() || true);
static_assert(check_guidance<DeclaringGuidance>() || true);

static_assert(check_sequence<Bare<chord::sequence_policy_tag>>() || true);
static_assert(check_sequence<Uncopyable<chord::sequence_policy_tag>>() || true);

static_assert(check_objective<Bare<chord::objective_policy_tag>>() || true);
static_assert(check_objective<Uncopyable<chord::objective_policy_tag>>() || true);

static_assert(check_discriminators<NotOptedIn>() || true);
static_assert(check_discriminators<Bare<chord::discriminator_set_policy_tag>>() || true);
static_assert(check_discriminators<Uncopyable<chord::discriminator_set_policy_tag>>() || true);
}  // namespace
