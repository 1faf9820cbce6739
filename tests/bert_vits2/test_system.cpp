// Bert-VITS2 as a GanModel: the generator's training forward and inference at a tiny size, every
// discriminator member in the GAN trainer, and members dropped by a one-line spec change.
#include "device_support.hpp"
#include "support.hpp"
#include "train/recorder.hpp"
#include "bert_vits2/tiny.hpp"

#include <chord/systems/bert_vits2.hpp>
#include <chord/train/gan_training.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <string>

namespace bv2 = chord::systems::bert_vits2;
namespace train = chord::train;
using chord::test::Recorder;
using chord::test::tiny_gan_options;

static_assert(chord::GanGenerator<bv2::Synthesizer>);
static_assert(chord::DiscriminatorMember<chord::disc::MultiPeriod>);
static_assert(chord::DiscriminatorMember<chord::disc::Duration>);
static_assert(chord::DiscriminatorMember<chord::disc::WavLM>);
static_assert(chord::systems::BertVits2::discriminators::prefixes[0] == "DUR");

namespace {

constexpr int64_t kBatch = 2;

/// Two utterances (7 and 5 phones; 40 and 34 frames of noise-like audio) at the tiny configuration.
bv2::Batch tiny_batch(const bv2::SynthesizerOptions& options, uint64_t seed) {
  auto gen = chord::make_generator(seed);
  const bv2::MelProcessing mel(options.spectrogram());
  const int64_t hop = options.spectrogram().hop_length;
  const std::array<int64_t, kBatch> phones{7, 5}, frames{40, 34};
  bv2::Batch batch;
  batch.text_padded = torch::randint(1, options.n_vocab(), {kBatch, phones[0]}, gen);
  batch.tone_padded = torch::randint(0, options.n_tones(), {kBatch, phones[0]}, gen);
  batch.language_padded = torch::randint(0, options.n_languages(), {kBatch, phones[0]}, gen);
  batch.text_lengths = torch::tensor({phones[0], phones[1]});
  for (auto* t : {&batch.text_padded, &batch.tone_padded, &batch.language_padded}) t->narrow(1, phones[1], phones[0] - phones[1]).narrow(0, 1, 1).zero_();
  batch.bert_padded = torch::randn({kBatch, options.bert_channels(), phones[0]}, gen) * 0.1;
  batch.ja_bert_padded = torch::randn({kBatch, options.bert_channels(), phones[0]}, gen) * 0.1;
  batch.en_bert_padded = torch::zeros({kBatch, options.bert_channels(), phones[0]});
  batch.wav_padded = torch::zeros({kBatch, 1, frames[0] * hop});
  batch.spec_padded = torch::zeros({kBatch, options.spec_channels(), frames[0]});
  for (int64_t i = 0; i < kBatch; ++i) {
    const auto t = torch::arange(frames[i] * hop, torch::kFloat32) / static_cast<double>(options.spectrogram().sampling_rate);
    auto wav = 0.3 * torch::sin(2 * M_PI * (180.0 + 40.0 * i) * t) + 0.05 * torch::randn({frames[i] * hop}, gen);
    batch.wav_padded[i][0].narrow(0, 0, frames[i] * hop).copy_(wav);
    batch.spec_padded[i].narrow(1, 0, frames[i]).copy_(mel.spectrogram(wav.unsqueeze(0))[0]);
  }
  batch.spec_lengths = torch::tensor({frames[0], frames[1]});
  batch.wav_lengths = batch.spec_lengths * hop;
  batch.sid = torch::tensor({1, 3});
  batch.order = torch::arange(kBatch);
  return batch;
}

train::BatchSource<bv2::Batch> tiny_source(const bv2::SynthesizerOptions& options) {
  return {[](int64_t) { return size_t{2}; },
          [options](int64_t epoch, size_t index) { return tiny_batch(options, static_cast<uint64_t>(10 * epoch + static_cast<int64_t>(index))); }};
}

/// `max_steps` GAN steps of `model` in the trainer on the tiny batches; the scalars of the last step.
template <class Spec>
std::map<std::string, double> train_gan(chord::GanModel<Spec>& model, const bv2::SynthesizerOptions& generator, int64_t max_steps,
                                        c10::Device device = c10::kCPU, std::optional<c10::ScalarType> autocast = {}) {
  train::TrainerOptions trainer_options;
  trainer_options.max_steps = max_steps;
  trainer_options.device = device;
  trainer_options.autocast_dtype = autocast;
  train::Trainer trainer(trainer_options);
  train::add_gan(trainer, model);
  auto recorder = std::make_shared<Recorder>();
  trainer.add_observer(recorder);
  trainer.fit<bv2::Batch>(tiny_source(generator), [&](const bv2::Batch& batch, train::StepContext& context) {
    return train::gan_step(model, batch, context);
  });
  REQUIRE_FALSE(recorder->steps.empty());
  return recorder->steps.back().scalars;
}

}  // namespace

TEST_CASE("the tiny synthesizer's training forward: alignment, durations, prior, segment", "[bert_vits2][system]") {
  torch::manual_seed(1);
  const auto options = bv2::SynthesizerOptions::tiny();
  bv2::Synthesizer model(options);
  model->eval();
  const auto batch = tiny_batch(options, 7);
  auto gen = chord::make_generator(3);
  const auto r = model->forward(batch, gen);

  REQUIRE(r.o.sizes() == torch::IntArrayRef({kBatch, 1, options.segment_samples()}));
  REQUIRE(r.attn.sizes() == torch::IntArrayRef({kBatch, 1, 40, 7}));
  // Every frame inside an item belongs to exactly one phone inside it; frames and phones outside none.
  const auto per_frame = r.attn.sum(3).squeeze(1);  // [B, T_y]
  const auto per_phone = r.attn.sum(2).squeeze(1);  // [B, T_x]
  for (int64_t i = 0; i < kBatch; ++i) {
    const int64_t frames = batch.spec_lengths[i].item<int64_t>(), phones = batch.text_lengths[i].item<int64_t>();
    REQUIRE(per_frame[i].narrow(0, 0, frames).eq(1).all().item<bool>());
    REQUIRE(per_frame[i].narrow(0, frames, 40 - frames).eq(0).all().item<bool>());
    REQUIRE(per_phone[i].narrow(0, 0, phones).sum().item<double>() == frames);
    REQUIRE(per_phone[i].narrow(0, 0, phones).ge(1).all().item<bool>());  // MAS gives every phone a frame
  }
  // Monotonic: the phone index never decreases from frame to frame.
  const auto phone_of_frame = r.attn.squeeze(1).argmax(2);  // [B, T_y]
  REQUIRE((phone_of_frame.narrow(1, 1, 33) - phone_of_frame.narrow(1, 0, 33)).ge(0).all().item<bool>());
  // The target log-durations are log(w + 1e-6) on real phones.
  REQUIRE(chord::test::max_abs_diff(r.logw_, torch::log(per_phone.unsqueeze(1) + 1e-6) * r.x_mask) < 1e-5);
  REQUIRE(torch::isfinite(r.l_length).all().item<bool>());
  REQUIRE(r.ids_slice.ge(0).all().item<bool>());
  REQUIRE((r.ids_slice + options.segment_frames()).le(batch.spec_lengths).all().item<bool>());
  // The expanded prior repeats each phone's statistics over its frames.
  const int64_t first_frame_phone = phone_of_frame[0][0].item<int64_t>();
  REQUIRE(first_frame_phone == 0);
}

TEST_CASE("the synthesizer's inference: lengths from the durations, audio of that many frames", "[bert_vits2][system]") {
  torch::manual_seed(2);
  const auto options = bv2::SynthesizerOptions::tiny();
  bv2::Synthesizer model(options);
  model->eval();
  const auto batch = tiny_batch(options, 8);
  auto gen = chord::make_generator(4);
  torch::NoGradGuard no_grad;
  const auto result = model->infer(batch.text_padded, batch.text_lengths, batch.sid, batch.tone_padded, batch.language_padded,
                                   batch.bert_padded, batch.ja_bert_padded, batch.en_bert_padded,
                                   bv2::InferOptions().length_scale(1.5), gen);
  const auto frames = result.y_mask.sum({1, 2});
  REQUIRE(result.audio.size(2) == frames.max().item<int64_t>() * options.spectrogram().hop_length);
  REQUIRE(result.attn.sum({1, 3}).squeeze().sum().item<double>() == frames.sum().item<double>());
  REQUIRE(torch::isfinite(result.audio).all().item<bool>());
  CHORD_REQUIRE_THROWS_WITH_TEXT(model->infer(batch.text_padded, batch.text_lengths, torch::tensor({0, 9}), batch.tone_padded,
                                              batch.language_padded, batch.bert_padded, batch.ja_bert_padded, batch.en_bert_padded, {}, gen),
                                 "speaker id outside [0, 4)");
}

TEST_CASE("validation losses: the generator's terms per item, averaged, in eval mode with one fixed seed", "[bert_vits2][system]") {
  torch::manual_seed(5);
  const auto options = bv2::SynthesizerOptions::tiny();
  bv2::Synthesizer model(options);
  const auto batch = tiny_batch(options, 6);
  std::vector<bv2::Item> items;
  for (int64_t i = 0; i < kBatch; ++i) {
    const auto phones = batch.text_lengths[i].item<int64_t>(), frames = batch.spec_lengths[i].item<int64_t>();
    auto cut = [&](const torch::Tensor& t) { return t[i].narrow(-1, 0, phones); };
    items.push_back({cut(batch.text_padded), batch.spec_padded[i].narrow(1, 0, frames),
                     batch.wav_padded[i].narrow(1, 0, frames * options.spectrogram().hop_length), batch.sid.narrow(0, i, 1),
                     cut(batch.tone_padded), cut(batch.language_padded), cut(batch.bert_padded), cut(batch.ja_bert_padded),
                     cut(batch.en_bert_padded)});
  }
  model->train();
  const auto scored = model->validation_losses(items, 1, c10::kCPU);
  REQUIRE(model->is_training());  // restored
  REQUIRE(model->validation_losses(items, 1, c10::kCPU) == scored);  // the same weights score the same
  // By hand: each item alone in eval mode, one generator seeded 1234 running through, the mean.
  model->eval();
  torch::NoGradGuard no_grad;
  auto gen = chord::make_generator(1234);
  std::map<std::string, double> expected;
  for (const auto& item : items) {
    const auto one = bv2::collate({item});
    for (const auto& [name, term] : model->losses(one, model->generate(one, gen))) expected[name] += term.item<double>() / kBatch;
  }
  REQUIRE(scored.size() == 3);
  for (const auto& [name, value] : expected) {
    INFO(name);
    REQUIRE(std::isfinite(value));
    REQUIRE(scored.at(name) == Approx(value).epsilon(1e-12));
  }
  // Other weights, another score: the best-validation checkpoint can tell them apart.
  model->dec->conv_post->weight.mul_(1.5);
  REQUIRE(model->validation_losses(items, 1, c10::kCPU).at("mel") != scored.at("mel"));
}

TEST_CASE("Bert-VITS2 trains with all three discriminators: each member's step, the generator's terms", "[bert_vits2][system][gan]") {
  torch::manual_seed(3);
  auto options = tiny_gan_options<chord::systems::BertVits2>();
  chord::GanModel<chord::systems::BertVits2> model(options);
  auto params = model->named_parameters();
  REQUIRE(params.contains("net_g.enc_p.emb.weight"));
  REQUIRE(params.contains("DUR.LSTM.weight_ih_l0"));
  REQUIRE(params.contains("D.discriminators.0.convs.0.weight_g"));
  REQUIRE(params.contains("WD.wd.pre.weight_v"));
  const auto wavlm_key = std::string("WD.wavlm.encoder.layers.0.attention.q_proj.weight");
  REQUIRE(params.contains(wavlm_key));
  const auto wavlm_before = params[wavlm_key].clone();
  const auto dur_before = params["DUR.LSTM.weight_ih_l0"].clone();
  const auto wd_before = params["WD.wd.pre.weight_v"].clone();

  const auto last = train_gan(model, options.generator, 2);
  for (const char* key : {"DUR/loss", "D/loss", "WD/loss", "G/loss", "G/mel", "G/kl", "G/duration", "G/DUR/adversarial",
                          "G/D/adversarial", "G/D/feature_matching", "G/WD/adversarial", "G/WD/feature_matching"}) {
    INFO(key);
    REQUIRE(last.count(key));
    REQUIRE(std::isfinite(last.at(key)));
  }
  params = model->named_parameters();
  REQUIRE_FALSE(torch::equal(params["DUR.LSTM.weight_ih_l0"], dur_before));
  REQUIRE_FALSE(torch::equal(params["WD.wd.pre.weight_v"], wd_before));
  REQUIRE(torch::equal(params[wavlm_key], wavlm_before));  // frozen
}

TEST_CASE("trainer checkpoints leave the frozen WavLM out and resume with the same one only", "[bert_vits2][system][gan]") {
  const auto dir = chord::test::scratch_dir("bert_vits2_pretrained");
  auto run = [&](int64_t max_steps, uint64_t wavlm_seed) {
    torch::manual_seed(3);
    auto options = tiny_gan_options<chord::systems::BertVits2>();
    chord::GanModel<chord::systems::BertVits2> model(options);
    {  // the program's --wavlm-weights: the same file at every start, or another one
      torch::NoGradGuard no_grad;
      auto gen = chord::make_generator(wavlm_seed);
      for (auto& p : model->named_parameters()) {
        if (p.key().rfind("WD.wavlm.", 0) == 0) p.value().copy_(torch::randn(p.value().sizes(), gen) * 0.02);
      }
    }
    train::TrainerOptions trainer_options;
    trainer_options.max_steps = max_steps;
    trainer_options.checkpoint_dir = dir;
    train::Trainer trainer(trainer_options);
    train::add_gan(trainer, model);
    return trainer.fit<bv2::Batch>(tiny_source(options.generator), [&](const bv2::Batch& batch, train::StepContext& context) {
      return train::gan_step(model, batch, context);
    });
  };
  REQUIRE(run(1, 1).step == 1);
  torch::serialize::InputArchive archive;
  archive.load_from((dir / "checkpoint_000000001.pt").string());
  const auto saved = chord::io::read_tensor_map(archive, chord::io::trainer_module_key("model"));
  REQUIRE(saved.count("WD.wd.pre.weight_v"));
  REQUIRE(saved.count("net_g.enc_p.emb.weight"));
  REQUIRE(std::none_of(saved.begin(), saved.end(), [](const auto& item) { return item.first.rfind("WD.wavlm.", 0) == 0; }));
  REQUIRE(run(2, 1).step == 2);
  CHORD_REQUIRE_THROWS_WITH_TEXT(run(3, 2), "was trained with other weights under 'WD.wavlm.'");
}

TEST_CASE("a member starting late and members dropped by a one-line spec change", "[bert_vits2][system][gan]") {
  torch::manual_seed(4);
  auto options = tiny_gan_options<chord::systems::BertVits2NoWavLM>();
  options.discriminators.get<chord::disc::Duration>().start_step = 1000;
  chord::GanModel<chord::systems::BertVits2NoWavLM> model(options);
  REQUIRE_FALSE(model->named_parameters().contains("WD.wd.pre.weight_v"));
  const auto dur_before = model->named_parameters()["DUR.LSTM.weight_ih_l0"].clone();
  const auto last = train_gan(model, options.generator, 1);
  REQUIRE(last.count("D/loss"));
  REQUIRE_FALSE(last.count("DUR/loss"));
  REQUIRE_FALSE(last.count("G/DUR/adversarial"));
  REQUIRE(torch::equal(model->named_parameters()["DUR.LSTM.weight_ih_l0"], dur_before));

  chord::GanModel<chord::systems::BertVits2MultiPeriodOnly> vits1(tiny_gan_options<chord::systems::BertVits2MultiPeriodOnly>());
  REQUIRE_FALSE(vits1->named_parameters().contains("DUR.LSTM.weight_ih_l0"));
  REQUIRE(vits1->named_parameters().contains("D.discriminators.1.conv_post.weight_g"));
}

TEST_CASE("Bert-VITS2 on a CUDA device: GAN steps in float32 and under bfloat16 autocast, inference on the device", "[.cuda]") {
  const c10::Device cuda(c10::kCUDA, 0);
  for (const bool bf16 : {false, true}) {
    INFO("bfloat16 autocast: " << bf16);
    torch::manual_seed(3);
    auto options = tiny_gan_options<chord::systems::BertVits2>();
    chord::GanModel<chord::systems::BertVits2> model(options);
    const auto last = train_gan(model, options.generator, 2, cuda, bf16 ? std::optional(c10::kBFloat16) : std::nullopt);
    for (const char* key : {"DUR/loss", "D/loss", "WD/loss", "G/loss", "G/mel", "G/kl", "G/duration"}) {
      INFO(key);
      REQUIRE(last.count(key));
      REQUIRE(std::isfinite(last.at(key)));
    }
    chord::test::require_on(*model, cuda);
  }
  torch::manual_seed(2);
  const auto options = bv2::SynthesizerOptions::tiny();
  bv2::Synthesizer model(options);
  model->eval();
  auto cpu_gen = chord::make_generator(4);
  torch::NoGradGuard no_grad;
  const auto batch = tiny_batch(options, 8);
  const auto on_cpu = model->infer(batch.text_padded, batch.text_lengths, batch.sid, batch.tone_padded, batch.language_padded,
                                   batch.bert_padded, batch.ja_bert_padded, batch.en_bert_padded,
                                   bv2::InferOptions().length_scale(1.5).noise_scale(0.0).noise_scale_w(0.0), cpu_gen);
  model->to(cuda);
  const auto moved = batch.to(cuda);
  auto gen = chord::make_generator(4, cuda);
  chord::test::NoTF32 no_tf32;
  const auto result = model->infer(moved.text_padded, moved.text_lengths, moved.sid, moved.tone_padded, moved.language_padded,
                                   moved.bert_padded, moved.ja_bert_padded, moved.en_bert_padded,
                                   bv2::InferOptions().length_scale(1.5).noise_scale(0.0).noise_scale_w(0.0), gen);
  REQUIRE(result.audio.device() == cuda);
  REQUIRE(torch::isfinite(result.audio).all().item<bool>());
  // Without noise the durations and the audio are functions of the weights: the CPU's, to float32 rounding.
  REQUIRE(result.audio.sizes() == on_cpu.audio.sizes());
  CHECK(chord::test::max_abs_diff(result.audio.cpu(), on_cpu.audio) <= 1e-4);
}
