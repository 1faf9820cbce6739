#pragma once
/// @file
/// SAGA-SR end to end for any super-resolution spec (`chord::systems::SagaStep0` … `SagaOfficial`, or
/// your own): the data pipeline (random crops, the reference's random low-pass simulation, roll-off
/// ratios, captions), a trainer with EMA, inference with low-frequency replacement, and evaluation
/// (LSD, SI-SDR, with the low-resolution input as the floor). `chord_add_trainer(... APP sr_trainer |
/// sr_infer)` builds the programs for a spec; examples/saga_sr/ablation.cpp runs the seed's ablation.
///
/// A run folder holds `config.json` (everything needed to rebuild the system), `model_ema.safetensors`
/// (the EMA of the DiT, its conditioners and a trainable text encoder), checkpoints, logs, `loss.png`.

#include "chord/apps/cli.hpp"
#include "chord/apps/manifest_check.hpp"
#include "chord/apps/tts_trainer.hpp"  // read_json_config
#include "chord/audio/io.hpp"
#include "chord/audio/lowpass.hpp"
#include "chord/audio/metrics.hpp"
#include "chord/audio/resample.hpp"
#include "chord/audio/signal.hpp"
#include "chord/audio/super_resolution.hpp"
#include "chord/core/random.hpp"
#include "chord/data/manifest.hpp"
#include "chord/nn/pretransform.hpp"
#include "chord/nn/text_conditioner.hpp"
#include "chord/systems/saga_sr.hpp"
#include "chord/train/schedulers.hpp"
#include "chord/train/trainer.hpp"
#include "chord/viz/plots.hpp"
#include "chord/viz/training_curves.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace chord::apps {

inline constexpr int64_t kSuperResolutionRate = 44100;

/// Everything a SAGA-SR run is built from; JSON keys = field names, flags = '_' → '-'.
struct SrConfig {
  std::string manifest;
  std::string valid_manifest;
  std::string out = "out/saga_sr";
  std::string preset = "tiny";
  /// "patch" (waveform patching, offline) or "oobleck:<model.safetensors>" (Stable Audio Open's VAE).
  std::string pretransform = "patch";
  /// 32: the tiny DiT is 64 wide and input concatenation doubles the latent channels, so wider
  /// patches squeeze the input through project_in (measured: patch 64 trains to twice the loss).
  int64_t patch = 32;
  int64_t audio_channels = 1;  ///< for patching; the Oobleck VAE is stereo
  double patch_scale = 0.1;    ///< patching divides by this: the RMS of the audio gives unit-variance latents
  /// "bytes" (a small T5 over bytes, trained with the model) or "t5:<folder>" (e.g. t5-base, frozen).
  std::string text_encoder = "bytes";
  int64_t text_width = 64;
  int64_t text_length = 64;
  double segment_seconds = 0.743;  ///< rounded down to whole latent frames (1023 frames of 32 samples)
  int64_t batch_size = 4;
  int64_t steps = 1000;
  double lr = 2e-4;
  double weight_decay = 1e-3;
  double max_grad_norm = 1.0;
  double ema_beta = 0.9999;
  int64_t log_every = 10;
  int64_t checkpoint_every = 500;
  int64_t keep_checkpoints = 3;
  int64_t validate_every = 0;  ///< updates between validation losses on valid_manifest (0: at the end)
  int64_t seed = 0;
  bool fresh = false;
  bool skip_bad_items = false;
  std::string device = "auto";

  NLOHMANN_DEFINE_TYPE_INTRUSIVE_WITH_DEFAULT(SrConfig, manifest, valid_manifest, out, preset, pretransform, patch, audio_channels, patch_scale,
                                              text_encoder, text_width, text_length, segment_seconds, batch_size, steps, lr,
                                              weight_decay, max_grad_norm, ema_beta, log_every, checkpoint_every, keep_checkpoints,
                                              validate_every, seed, fresh, skip_bad_items, device)

  /// Every numeric value in its range, whether it came from the command line or a JSON config.
  void check() const {
    require_range("--patch", patch, int64_t{1}, int64_t{65536});
    require_range("--audio-channels", audio_channels, int64_t{1}, int64_t{2});
    require_positive("--patch-scale", patch_scale);
    require_range("--text-width", text_width, int64_t{1});
    require_range("--text-length", text_length, int64_t{1});
    require_positive("--segment-seconds", segment_seconds);
    require_range("--batch-size", batch_size, int64_t{1});
    require_range("--steps", steps, int64_t{1});
    require_positive("--lr", lr);
    require_range("--weight-decay", weight_decay, 0.0);
    require_range("--max-grad-norm", max_grad_norm, 0.0);
    require_range("--ema-beta", ema_beta, 0.0, 1.0);
    require_range("--log-every", log_every, int64_t{1});
    require_range("--checkpoint-every", checkpoint_every, int64_t{0});
    require_range("--keep-checkpoints", keep_checkpoints, int64_t{0});
    require_range("--validate-every", validate_every, int64_t{0});
    require_range("--seed", seed, int64_t{0});
  }
};

/// What super-resolution training needs of a clip: a real 44.1 kHz (or higher) recording — an
/// upsampled one has nothing above its old Nyquist to learn from — readable, finite, not empty.
inline data::AudioRequirements sr_training_requirements() {
  data::AudioRequirements needs;
  needs.min_sample_rate = 44100;
  return needs;
}

inline nn::Pretransform make_pretransform(const SrConfig& cfg) {
  if (cfg.pretransform == "patch") return std::make_shared<nn::WaveformPatchingImpl>(cfg.audio_channels, cfg.patch, cfg.patch_scale);
  const std::string prefix = "oobleck:";
  CHORD_CHECK(cfg.pretransform.rfind(prefix, 0) == 0, "pretransform '", cfg.pretransform,
              "' is neither \"patch\" nor \"oobleck:<path to Stable Audio Open model.safetensors>\"");
  return nn::OobleckPretransformImpl::from_file(cfg.pretransform.substr(prefix.size()));
}

/// A SAGA-SR system: the flow model of `Spec` and, when the spec conditions on text, the text encoder.
/// Registered together so that EMA, checkpoints and the exported weights cover both.
template <class Spec>
class SuperResolutionSystemImpl : public torch::nn::Module {
 public:
  using Model = FlowModel<Spec>;
  using Batch = typename Model::Impl::Batch;
  static constexpr bool uses_text = Spec::conditioning::uses_text;

  SuperResolutionSystemImpl(const SrConfig& cfg, int64_t latent_channels) {
    int64_t text_dim = 0;
    if constexpr (uses_text) {
      if (cfg.text_encoder == "bytes") {
        text = nn::TextConditioner(nn::TextConditionerImpl::byte_level(cfg.text_width, cfg.text_length));
      } else {
        CHORD_CHECK(cfg.text_encoder.rfind("t5:", 0) == 0, "text encoder '", cfg.text_encoder,
                    "' is neither \"bytes\" nor \"t5:<Hugging Face T5 folder>\"");
        text = nn::TextConditioner(nn::TextConditionerImpl::t5_folder(cfg.text_encoder.substr(3), cfg.text_length));
      }
      register_module("text", text.ptr());
      text_dim = text->width();
    }
    model = register_module("model", Model(systems::saga_sr::model_options<Spec>(systems::saga_sr::parse_preset(cfg.preset),
                                                                                  text_dim, latent_channels)));
  }

  /// Text embeddings for captions (undefined when the spec takes no text).
  torch::Tensor embed_text(const std::vector<std::string>& captions) {
    if constexpr (uses_text) return text->forward(captions).first;
    return {};
  }

  Model model{nullptr};
  nn::TextConditioner text{nullptr};
};
template <class Spec>
class SuperResolutionSystem : public torch::nn::ModuleHolder<SuperResolutionSystemImpl<Spec>> {
 public:
  using torch::nn::ModuleHolder<SuperResolutionSystemImpl<Spec>>::ModuleHolder;
};

/// Clips of a manifest at 44.1 kHz with `channels` channels (mono mixed down, mono duplicated to
/// stereo, other rates resampled), and their captions.
struct SrClips {
  std::vector<torch::Tensor> audio;  ///< `[C, N]`
  std::vector<std::string> captions;
  std::vector<std::string> names;
};

inline SrClips load_clips(const data::Manifest& manifest, int64_t channels) {
  SrClips clips;
  for (const auto& item : manifest.items()) {
    auto a = audio::read_audio(item.audio);
    auto wave = a.samples.dim() == 1 ? a.samples.unsqueeze(0) : a.samples;
    if (a.sample_rate != kSuperResolutionRate) wave = audio::resample(wave, a.sample_rate, kSuperResolutionRate);
    if (wave.size(0) != channels) wave = channels == 1 ? wave.mean(0, true) : wave.mean(0, true).expand({channels, -1}).contiguous();
    clips.audio.push_back(wave.to(torch::kFloat32));
    clips.captions.push_back(item.text);
    clips.names.push_back(item.audio.stem().string());
  }
  CHORD_CHECK(!clips.audio.empty(), "the manifest lists no clips");
  return clips;
}

/// A batch of waveform pairs with their conditions, before the latent encoding.
struct SrExample {
  torch::Tensor high, low;  ///< `[B, C, N]`
  std::vector<std::string> captions;
  torch::Tensor input_rolloff, output_rolloff, seconds_start, seconds_total;  ///< `[B]`

  SrExample to(c10::Device device, bool non_blocking = false) const {
    return {moved(high, device, non_blocking), moved(low, device, non_blocking), captions, moved(input_rolloff, device, non_blocking),
            moved(output_rolloff, device, non_blocking), moved(seconds_start, device, non_blocking), moved(seconds_total, device, non_blocking)};
  }
  SrExample pin_memory() const {
    return {pinned(high), pinned(low), captions, pinned(input_rolloff), pinned(output_rolloff), pinned(seconds_start), pinned(seconds_total)};
  }
};

/// Stacks pairs and measures their roll-off ratios (LR: input, HR: output; the 0.985 rule).
inline SrExample make_example(std::vector<torch::Tensor> high, std::vector<torch::Tensor> low, std::vector<std::string> captions,
                              std::vector<double> starts, std::vector<double> totals) {
  SrExample e;
  std::vector<double> in, out;
  for (size_t i = 0; i < high.size(); ++i) {
    in.push_back(audio::rolloff_ratio(low[i]));
    out.push_back(audio::rolloff_ratio(high[i]));
  }
  e.high = torch::stack(high);
  e.low = torch::stack(low);
  e.captions = std::move(captions);
  auto tensor = [](const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64).to(torch::kFloat32); };
  e.input_rolloff = tensor(in);
  e.output_rolloff = tensor(out);
  e.seconds_start = tensor(starts);
  e.seconds_total = tensor(totals);
  return e;
}

/// Random crops of `segment` samples with the reference's random low-pass simulation; a pure function
/// of `seed` (the trainer's batches must be).
inline SrExample random_example(const SrClips& clips, int64_t batch, int64_t segment, uint64_t seed) {
  auto gen = make_generator(seed);
  std::vector<torch::Tensor> high, low;
  std::vector<std::string> captions;
  std::vector<double> starts, totals;
  for (int64_t b = 0; b < batch; ++b) {
    const auto index = torch::randint(static_cast<int64_t>(clips.audio.size()), {1}, gen).item<int64_t>();
    const auto& clip = clips.audio[static_cast<size_t>(index)];
    torch::Tensor crop;
    int64_t start = 0;
    if (clip.size(1) <= segment) {
      crop = torch::constant_pad_nd(clip, {0, segment - clip.size(1)});
    } else {
      start = torch::randint(clip.size(1) - segment + 1, {1}, gen).item<int64_t>();
      crop = clip.narrow(1, start, segment);
    }
    high.push_back(crop);
    low.push_back(audio::simulate_low_resolution(crop, kSuperResolutionRate, gen).audio.to(torch::kFloat32));
    captions.push_back(clips.captions[static_cast<size_t>(index)]);
    starts.push_back(static_cast<double>(start) / kSuperResolutionRate);
    totals.push_back(static_cast<double>(clip.size(1)) / kSuperResolutionRate);
  }
  return make_example(std::move(high), std::move(low), std::move(captions), std::move(starts), std::move(totals));
}

/// The official validation degradation: Chebyshev I, order 8, 4 kHz, zero-phase, resampled to 8 kHz and back.
inline audio::LowResolutionOptions validation_degradation() {
  audio::LowResolutionOptions o;
  o.families = {audio::FilterFamily::chebyshev1};
  o.min_order = o.max_order = 8;
  o.min_cutoff_hz = o.max_cutoff_hz = 4000;
  return o;
}

/// Fixed validation batches: the first `segment` samples of every clip (zero-padded), degraded as the
/// official validation does, `batch` clips at a time — the same inputs at every validation.
inline std::vector<SrExample> validation_examples(const SrClips& clips, int64_t segment, int64_t batch) {
  auto gen = make_generator(0);
  std::vector<SrExample> examples;
  for (size_t first = 0; first < clips.audio.size(); first += static_cast<size_t>(batch)) {
    std::vector<torch::Tensor> high, low;
    std::vector<std::string> captions;
    std::vector<double> starts, totals;
    for (size_t i = first; i < std::min(clips.audio.size(), first + static_cast<size_t>(batch)); ++i) {
      const auto& clip = clips.audio[i];
      auto crop = clip.size(1) <= segment ? torch::constant_pad_nd(clip, {0, segment - clip.size(1)}) : clip.narrow(1, 0, segment);
      high.push_back(crop);
      low.push_back(audio::simulate_low_resolution(crop, kSuperResolutionRate, gen, validation_degradation()).audio.to(torch::kFloat32));
      captions.push_back(clips.captions[i]);
      starts.push_back(0.0);
      totals.push_back(static_cast<double>(clip.size(1)) / kSuperResolutionRate);
    }
    examples.push_back(make_example(std::move(high), std::move(low), std::move(captions), std::move(starts), std::move(totals)));
  }
  return examples;
}

/// The model's batch: both waveforms encoded (`[B, T, C]`), the text embedded, the numbers attached.
template <class Spec>
typename SuperResolutionSystemImpl<Spec>::Batch model_batch(SuperResolutionSystemImpl<Spec>& system, nn::PretransformImpl& pretransform,
                                                            const SrExample& e, torch::Generator& gen) {
  typename SuperResolutionSystemImpl<Spec>::Batch b;
  {
    torch::NoGradGuard no_grad;
    b.target = pretransform.encode(e.high, &gen).transpose(1, 2).contiguous();
    b.low_resolution = pretransform.encode(e.low, &gen).transpose(1, 2).contiguous();
  }
  b.inputs.text = system.embed_text(e.captions);
  b.inputs.input_rolloff = e.input_rolloff;
  b.inputs.output_rolloff = e.output_rolloff;
  b.inputs.seconds_start = e.seconds_start;
  b.inputs.seconds_total = e.seconds_total;
  return b;
}

struct SrTrainResult {
  int64_t steps = 0;
  double final_loss = 0.0;  ///< mean of the last 10 % of the logged losses
  bool interrupted = false; ///< SIGINT/SIGTERM stopped it (checkpointed; the same command resumes)
  bool loss_curve = false;  ///< loss.png was written (false when no update was logged yet)
  std::filesystem::path weights;
};

namespace detail {
/// The flow's noise has unit variance; latents far from it (loud or quiet data under a fixed-scale
/// pretransform) waste the budget on scale. Measured on crops the training never draws.
inline void report_latent_scale(nn::PretransformImpl& pretransform, const SrClips& clips, int64_t segment, uint64_t seed,
                                int64_t width, const std::string& label, c10::Device device) {
  torch::NoGradGuard no_grad;
  const auto probe = random_example(clips, 8, segment, ~seed);
  const double latent_std = pretransform.encode(probe.high.to(device)).std().template item<double>();
  std::cout << "[" << label << "] latent std " << latent_std << " on 8 training crops (the noise's is 1)";
  if (latent_std < 0.5 || latent_std > 2.0) std::cout << ": rescale the audio, or the latents with --patch-scale";
  std::cout << "\n";
  if (2 * pretransform.latent_channels() > width)
    std::cout << "[" << label << "] note: the DiT input (noisy + low-resolution latents, " << 2 * pretransform.latent_channels()
              << " channels) is wider than the model (" << width << "); a smaller --patch or a larger --preset avoids the bottleneck\n";
}
}  // namespace detail

/// Trains `Spec` on `cfg.manifest` (every clip checked first); writes the run folder. With
/// `cfg.valid_manifest`, the EMA weights' loss on fixed validation crops is reported every
/// `cfg.validate_every` updates (and at the end). Progress goes to stderr under `label`.
template <class Spec>
SrTrainResult train_super_resolution(const SrConfig& cfg, const std::string& label) {
  cfg.check();
  CHORD_CHECK(!cfg.manifest.empty(), "--manifest is required (JSONL with \"audio\" and \"text\" per line)");
  const std::filesystem::path out = cfg.out;
  require_output_folder(out, "--out");
  const auto manifest = read_checked_manifest(cfg.manifest, "--manifest", sr_training_requirements(), cfg.skip_bad_items, label);
  std::optional<data::Manifest> valid_manifest;
  if (!cfg.valid_manifest.empty()) {
    valid_manifest = read_checked_manifest(cfg.valid_manifest, "--valid-manifest", sr_training_requirements(), cfg.skip_bad_items, label);
  }
  if (cfg.fresh) std::filesystem::remove_all(out / "checkpoints");
  std::ofstream(out / "config.json") << nlohmann::json(cfg).dump(2) << "\n";

  auto pretransform = make_pretransform(cfg);
  const auto clips = std::make_shared<SrClips>(load_clips(manifest, pretransform->audio_channels()));
  const auto ratio = pretransform->downsampling_ratio();
  const int64_t segment = std::max<int64_t>(1, static_cast<int64_t>(cfg.segment_seconds * kSuperResolutionRate) / ratio) * ratio;
  const auto seed = static_cast<uint64_t>(cfg.seed);
  const auto device = announce_device(cfg.device, label);
  pretransform->to(device);

  torch::manual_seed(seed);
  SuperResolutionSystem<Spec> system(cfg, pretransform->latent_channels());
  int64_t parameters = 0;
  std::vector<torch::Tensor> trainable;
  for (const auto& p : system->parameters()) {
    if (!p.requires_grad()) continue;
    parameters += p.numel();
    trainable.push_back(p);
  }
  std::cout << "[" << label << "] " << Spec::name << ": preset " << cfg.preset << ", " << parameters / 1e6 << " M trainable parameters, "
            << pretransform->describe() << ", text " << (system->text ? system->text->source() : std::string("none")) << ", "
            << clips->audio.size() << " clips, segments of " << segment << " samples (" << segment / ratio << " latent frames)\n";
  detail::report_latent_scale(*pretransform, *clips, segment, seed,
                              systems::saga_sr::preset_sizes(systems::saga_sr::parse_preset(cfg.preset)).embed_dim, label, device);

  train::TrainerOptions options;
  options.max_steps = cfg.steps;
  options.log_every = cfg.log_every;
  options.checkpoint_every = cfg.checkpoint_every;
  options.keep_checkpoints = static_cast<int>(cfg.keep_checkpoints);
  options.checkpoint_dir = out / "checkpoints";
  options.seed = seed;
  options.device = device;
  train::Trainer trainer(options);
  trainer.add_module("system", system.ptr());
  auto optimizer = std::make_shared<torch::optim::AdamW>(trainable, torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  // stable-audio-tools' InverseLR(inv_gamma 1e6, power 0.5, warmup 0.99).
  trainer.add_optimizer("system", optimizer, train::inverse_lr(cfg.lr, 1e6, 0.5, 0.99), cfg.max_grad_norm);
  auto ema_options = train::EmaOptions::stable_audio();
  ema_options.beta = cfg.ema_beta;
  auto& ema = trainer.add_ema("system", system.ptr(), ema_options);
  trainer.add_observer(std::make_shared<train::ConsoleProgress>(std::cerr, label));
  trainer.add_observer(std::make_shared<train::JsonlLogger>(out / "log.jsonl", !cfg.fresh));

  // Validation: the EMA weights on fixed crops of the held-out clips, with a fixed generator.
  std::vector<SrExample> valid;
  if (valid_manifest) valid = validation_examples(load_clips(*valid_manifest, pretransform->audio_channels()), segment, cfg.batch_size);
  SuperResolutionSystem<Spec> averaged{nullptr};
  if (!valid.empty()) {
    averaged = SuperResolutionSystem<Spec>(cfg, pretransform->latent_channels());
    averaged->to(device);
  }
  trainer.set_after_update([&](int64_t step) {
    const bool due = cfg.validate_every > 0 ? step % cfg.validate_every == 0 : step == cfg.steps;
    if (valid.empty() || !due) return;
    torch::NoGradGuard no_grad;
    ema.copy_to(*averaged);
    averaged->eval();
    auto gen = make_generator(12345, device);
    double total = 0.0;
    for (const auto& example : valid) {
      total += averaged->model->loss(model_batch<Spec>(*averaged, *pretransform, example.to(device), gen), gen).loss.template item<double>();
    }
    trainer.report(step, {{"valid/loss", total / static_cast<double>(valid.size())}});
  });

  train::BatchSource<SrExample> batches{
      [](int64_t) { return size_t{1000}; },
      [clips, segment, batch = cfg.batch_size, seed](int64_t epoch, size_t index) {
        return random_example(*clips, batch, segment, seed * 1000003ull + static_cast<uint64_t>(epoch) * 1000ull + index);
      }};
  std::vector<double> losses;
  auto result = trainer.fit<SrExample>(batches, [&](const SrExample& example, train::StepContext& context) {
    system->train();
    auto batch = model_batch<Spec>(*system, *pretransform, example, context.generator());
    auto loss = system->model->loss(std::move(batch), context.generator(), context.step()).loss;
    context.backward("system", loss);
    losses.push_back(loss.template item<double>());
    return train::Trainer::Scalars{{"loss", loss}};
  });

  SrTrainResult r;
  r.steps = result.step;
  r.interrupted = result.reason == train::StopReason::interrupted;
  r.weights = out / "model_ema.safetensors";
  const size_t tail = std::max<size_t>(1, losses.size() / 10);
  for (size_t i = losses.size() - std::min(tail, losses.size()); i < losses.size(); ++i) r.final_loss += losses[i] / static_cast<double>(tail);
  // A frozen pretrained text encoder (t5-base) is not part of the export: load_run reads it from its folder.
  io::TensorMap weights;
  const bool frozen_text = system->text && system->text->frozen();
  for (const auto& [name, tensor] : ema.shadow()) {
    if (!(frozen_text && name.rfind("text.", 0) == 0)) weights.emplace(name, tensor);
  }
  io::save_safetensors(r.weights, weights,
                       {{"spec", std::string(Spec::name)}, {"preset", cfg.preset}, {"pretransform", pretransform->describe()},
                        {"step", std::to_string(result.step)}});
  r.loss_curve = viz::save_training_curves_png(out / "log.jsonl", out / "loss.png", {"loss", "valid/loss"},
                                               {.title = label + " loss", .y_label = "loss", .log_y = true});
  CHORD_CHECK(result.reason != train::StopReason::nonfinite, label, ": training stopped on non-finite losses at step ", result.step);
  return r;
}

/// A trained run loaded back: its config, the pretransform, the system with the EMA weights, eval mode.
template <class Spec>
struct SrRun {
  SrConfig config;
  nn::Pretransform pretransform;
  SuperResolutionSystem<Spec> system{nullptr};
};

template <class Spec>
SrRun<Spec> load_run(const std::filesystem::path& folder, c10::Device device = c10::kCPU) {
  SrRun<Spec> run;
  std::ifstream in(folder / "config.json");
  CHORD_CHECK(in, "'", folder.string(), "' is not a SAGA-SR run folder (no config.json)");
  try {
    run.config = nlohmann::json::parse(in).get<SrConfig>();
  } catch (const nlohmann::json::exception& error) {
    CHORD_FAIL((folder / "config.json").string(), ": ", error.what());
  }
  run.pretransform = make_pretransform(run.config);
  run.system = SuperResolutionSystem<Spec>(run.config, run.pretransform->latent_channels());
  io::LoadOptions options;
  options.strict = false;
  // The exported EMA weights; a run still training (or killed) has only its checkpoints: the newest
  // complete one's EMA weights then.
  io::TensorMap weights;
  if (std::filesystem::exists(folder / "model_ema.safetensors")) {
    options.source_name = (folder / "model_ema.safetensors").string();
    weights = io::load_safetensors(folder / "model_ema.safetensors");
  } else {
    const auto entries = io::CheckpointManager(folder / "checkpoints").list();
    auto newest = std::find_if(entries.rbegin(), entries.rend(), [](const auto& e) { return io::CheckpointManager::is_complete(e.path); });
    CHORD_CHECK(newest != entries.rend(), "'", folder.string(), "' has neither model_ema.safetensors nor a complete checkpoint");
    options.source_name = newest->path.string();
    weights = io::read_trainer_weights(newest->path, "system").tensors;
  }
  auto report = io::load_state_dict(*run.system, weights, options);
  const bool frozen_text = run.system->text && run.system->text->frozen();
  bool complete = report.unexpected.empty() && report.mismatched.empty();
  for (const auto& key : report.missing) complete = complete && frozen_text && key.rfind("text.", 0) == 0;
  CHORD_CHECK(complete, "the weights in '", folder.string(), "' do not fit its config.json: ", report.describe());
  run.system->to(device);
  run.pretransform->to(device);
  run.system->eval();
  return run;
}

struct EnhanceOptions {
  int64_t steps = 100;                    ///< Euler steps (the programs' --nfe)
  std::optional<double> guidance;         ///< nullopt = the spec's default strength
  double output_rolloff = 1.0;            ///< the brightness asked for (official evaluation: 1.0)
  std::optional<systems::LowFrequencyReplacement> low_frequency_replacement;  ///< nullopt = the spec's
  uint64_t seed = 0;
  std::string caption;
  /// Long audio is enhanced in windows of this many latent frames (the SAGA-SR presets train on
  /// ~1024: 0.74 s with 32-sample patches, 47.6 s with the Oobleck VAE) overlapping by
  /// `overlap_frames`, cross-faded linearly. One window costs one short clip; the whole file as one
  /// sequence would cost attention over all of it. 0: the whole input as one sequence.
  int64_t window_frames = 1024;
  int64_t overlap_frames = 128;
  /// (window, windows, sampling steps done, steps in all) for progress output.
  std::function<void(size_t, size_t, int64_t, int64_t)> progress;
};

/// The windows `[start, start + length)` (samples) that enhance() cuts `length` samples into: every
/// window is full length, `overlap_frames` apart from the next, and the last one ends at the end
/// (overlapping its neighbour more), so no window is a sliver the model has never seen.
inline std::vector<std::pair<int64_t, int64_t>> plan_windows(int64_t length, int64_t samples_per_frame, int64_t window_frames,
                                                             int64_t overlap_frames) {
  const int64_t window = window_frames * samples_per_frame, hop = (window_frames - overlap_frames) * samples_per_frame;
  if (window_frames == 0 || length <= window) return {{0, length}};
  CHORD_CHECK(window_frames > 0 && overlap_frames >= 0 && overlap_frames < window_frames,
              "enhance: need 0 <= overlap < window, got window ", window_frames, " and overlap ", overlap_frames, " frames");
  std::vector<std::pair<int64_t, int64_t>> windows;
  int64_t start = 0;
  for (; start + window < length; start += hop) windows.emplace_back(start, window);
  windows.emplace_back(length - window, window);
  return windows;
}

namespace detail {
/// One window: encode, sample, decode, crop, replace the low band.
template <class Spec>
torch::Tensor enhance_window(SrRun<Spec>& run, const torch::Tensor& low, double seconds_start, double seconds_total,
                             uint64_t seed, const EnhanceOptions& o, std::function<void(int64_t, int64_t)> progress) {
  auto& pretransform = *run.pretransform;
  const auto length = low.size(1);
  auto padded = pretransform.pad_to_frames(low).unsqueeze(0);
  auto example = make_example({padded[0]}, {padded[0]}, {o.caption}, {seconds_start}, {seconds_total});
  example.input_rolloff = torch::tensor({static_cast<float>(audio::rolloff_ratio(low))});
  example.output_rolloff = torch::tensor({static_cast<float>(o.output_rolloff)});
  auto gen = make_generator(seed);
  typename SuperResolutionSystemImpl<Spec>::Model::Impl::Request request;
  request.low_resolution = pretransform.encode(padded).transpose(1, 2).contiguous();
  request.inputs.text = run.system->embed_text({o.caption});
  request.inputs.input_rolloff = example.input_rolloff;
  request.inputs.output_rolloff = example.output_rolloff;
  request.inputs.seconds_start = example.seconds_start;
  request.inputs.seconds_total = example.seconds_total;
  typename SuperResolutionSystemImpl<Spec>::Model::Impl::SampleOptions sample;
  sample.sampler.steps = o.steps;
  sample.guidance_strength = o.guidance;
  sample.seeds = {seed};
  sample.progress = std::move(progress);
  auto latents = run.system->model->sample(request, sample, gen).output;
  auto generated = pretransform.decode(latents.transpose(1, 2))[0].narrow(1, 0, length);
  return systems::saga_sr::replace_low_frequencies(o.low_frequency_replacement.value_or(Spec::low_frequency_replacement), generated, low);
}
}  // namespace detail

/// Super-resolves `low [C, N]` (44.1 kHz, band-limited) of any length: in overlapping windows (see
/// EnhanceOptions; window i is seeded `seed + i`), cross-faded; audio that fits one window is one pass.
template <class Spec>
torch::Tensor enhance(SrRun<Spec>& run, const torch::Tensor& low, const EnhanceOptions& o) {
  torch::NoGradGuard no_grad;
  auto& pretransform = *run.pretransform;
  CHORD_CHECK(low.dim() == 2 && low.size(0) == pretransform.audio_channels(), "enhance: audio [", pretransform.audio_channels(),
              ", N] expected, got ", low.sizes());
  CHORD_CHECK(low.size(1) > 0, "enhance: the input has no samples");
  const auto device = run.system->model->device();
  const int64_t ratio = pretransform.downsampling_ratio();
  const auto windows = plan_windows(low.size(1), ratio, o.window_frames, o.overlap_frames);
  const double total = static_cast<double>(low.size(1)) / kSuperResolutionRate;
  std::vector<torch::Tensor> pieces;
  std::vector<int64_t> overlaps;
  for (size_t i = 0; i < windows.size(); ++i) {
    const auto [start, length] = windows[i];
    if (i > 0) overlaps.push_back(windows[i - 1].first + windows[i - 1].second - start);
    std::function<void(int64_t, int64_t)> progress;
    if (o.progress) progress = [&, i](int64_t done, int64_t all) { o.progress(i, windows.size(), done, all); };
    pieces.push_back(detail::enhance_window(run, low.narrow(1, start, length).to(device), static_cast<double>(start) / kSuperResolutionRate,
                                            total, o.seed + i, o, progress).cpu());
  }
  return audio::cross_fade(pieces, overlaps);
}

/// LSD (n_fft 2048, hop 512, TorchJaekwon's formula) and SI-SDR (dB) of one clip, channels averaged.
struct SrMetrics {
  double lsd = 0.0, si_sdr = 0.0;
};
inline SrMetrics sr_metrics(const torch::Tensor& estimate, const torch::Tensor& target) {
  auto e = estimate.dim() == 1 ? estimate.unsqueeze(0) : estimate;
  auto t = target.dim() == 1 ? target.unsqueeze(0) : target;
  const auto n = std::min(e.size(-1), t.size(-1));
  e = e.narrow(-1, 0, n);
  t = t.narrow(-1, 0, n);
  return {audio::log_spectral_distance(e, t).mean().item<double>(), audio::si_sdr(e, t).mean().item<double>()};
}
inline std::string lsd_settings() {
  const audio::LsdOptions o;
  return "LSD: STFT n_fft " + std::to_string(o.n_fft) + ", hop " + std::to_string(o.hop_length) +
         ", Hann, centred, log10 power ratio (TorchJaekwon get_lsd_from_spec); SI-SDR: dB, no mean removal, 44.1 kHz";
}

/// Log-magnitude spectrograms of the clips, stacked with a shared colour scale.
inline void save_sr_spectrograms(const std::filesystem::path& path, const std::vector<std::pair<std::string, torch::Tensor>>& clips) {
  const audio::StftOptions stft{1024, 256, 1024, true};
  auto window = audio::hann_window(1024);
  std::vector<viz::SpectrogramPanel> panels;
  for (const auto& [title, wave] : clips) {
    auto mono = wave.dim() == 2 ? wave.mean(0) : wave;
    panels.push_back({title, (audio::stft(mono.to(torch::kFloat32), stft, window).abs() + 1e-5).log10()});
  }
  viz::save_spectrograms_png(path, panels,
                             {.pixels_per_frame = 1, .pixels_per_bin = 1, .y_label = "frequency bin (21.5 Hz)", .x_label = "frame (5.8 ms)"});
}

// --- programs -----------------------------------------------------------------------------------------

template <class Spec>
int run_sr_trainer(int argc, char** argv, const std::string& program) {
  SrConfig cfg;
  try {
    nlohmann::json config = cfg;
    read_json_config(argc, argv, config);
    cfg = config.get<SrConfig>();
  } catch (const std::exception& error) {
    std::cerr << program << ": " << error.what() << "\n";
    return 2;
  }
  CLI::App app{"Train SAGA-SR (" + std::string(Spec::name) + ", " + program + ") on a JSONL manifest of 44.1 kHz audio with captions. "
               "Options may also come from --config <file.json> (same names, '_' for '-')."};
  take_last_of_repeated_options(app);
  std::string config_file;
  app.add_option("--config", config_file, "JSON file with any of the options below");
  app.add_option("--manifest", cfg.manifest, "Training manifest (JSONL: audio, text = caption)");
  app.add_option("--valid-manifest", cfg.valid_manifest, "Held-out manifest: the EMA weights' loss on fixed degraded crops");
  app.add_option("--out", cfg.out, "Run folder")->capture_default_str();
  app.add_option("--preset", cfg.preset, "DiT size: tiny, small, full")->capture_default_str();
  app.add_option("--pretransform", cfg.pretransform, "patch | oobleck:<Stable Audio Open model.safetensors>")->capture_default_str();
  app.add_option("--patch", cfg.patch, "Samples per latent frame with waveform patching")->capture_default_str();
  app.add_option("--audio-channels", cfg.audio_channels, "Channels with waveform patching (1 or 2)")->capture_default_str();
  app.add_option("--patch-scale", cfg.patch_scale, "Waveform patching divides the audio by this (about its RMS)")->capture_default_str();
  app.add_option("--text-encoder", cfg.text_encoder, "bytes | t5:<Hugging Face T5 folder, e.g. t5-base>")->capture_default_str();
  app.add_option("--text-width", cfg.text_width, "Width of the byte-level text encoder")->capture_default_str();
  app.add_option("--text-length", cfg.text_length, "Tokens per caption (padded/truncated)")->capture_default_str();
  app.add_option("--segment-seconds", cfg.segment_seconds, "Training crop length")->capture_default_str();
  app.add_option("--batch-size", cfg.batch_size, "Crops per update")->capture_default_str();
  app.add_option("--steps", cfg.steps, "Optimiser updates")->capture_default_str();
  app.add_option("--lr", cfg.lr, "AdamW learning rate (InverseLR warm-up 0.99)")->capture_default_str();
  app.add_option("--weight-decay", cfg.weight_decay, "AdamW weight decay")->capture_default_str();
  app.add_option("--max-grad-norm", cfg.max_grad_norm, "Gradient clipping (0 = off)")->capture_default_str();
  app.add_option("--ema-beta", cfg.ema_beta, "EMA decay ceiling (power 3/4, every update)")->capture_default_str();
  app.add_option("--log-every", cfg.log_every, "Updates between logged losses")->capture_default_str();
  app.add_option("--checkpoint-every", cfg.checkpoint_every, "Updates between checkpoints")->capture_default_str();
  app.add_option("--keep-checkpoints", cfg.keep_checkpoints, "Newest checkpoints kept")->capture_default_str();
  app.add_option("--validate-every", cfg.validate_every, "Updates between validation losses (0 = at the end)")->capture_default_str();
  app.add_option("--seed", cfg.seed, "Seed of every draw")->capture_default_str();
  app.add_flag("--fresh", cfg.fresh, "Ignore and delete checkpoints in --out");
  add_skip_bad_items_flag(app, cfg.skip_bad_items);
  add_device_option(app, cfg.device);
  CLI11_PARSE(app, argc, argv);
  try {
    keep_freed_tensor_memory();
    auto result = train_super_resolution<Spec>(cfg, program);
    std::cout << "[" << program << "] " << (result.interrupted ? "interrupted (checkpointed; the same command resumes)" : "completed")
              << " at step " << result.steps << ", final loss " << result.final_loss << "\n"
              << "[" << program << "] EMA weights: " << result.weights.string() << "\n"
              << "[" << program << "] loss curve:  "
              << (result.loss_curve ? (std::filesystem::path(cfg.out) / "loss.png").string() : "none yet (no update logged)") << "\n";
    return 0;
  } catch (const std::exception& error) {
    return report_error(program, error);
  }
}

inline std::optional<systems::LowFrequencyReplacement> parse_lfr(const std::string& name) {
  if (name.empty() || name == "spec") return std::nullopt;
  if (name == "off") return systems::LowFrequencyReplacement::off;
  if (name == "hard") return systems::LowFrequencyReplacement::hard;
  if (name == "cross-fade") return systems::LowFrequencyReplacement::cross_fade;
  CHORD_FAIL("low-frequency replacement '", name, "' is not one of spec, off, hard, cross-fade");
}

namespace detail {
/// Audio for the model: 44.1 kHz with `channels` channels (mono mixed down, or duplicated).
inline torch::Tensor to_model_audio(const audio::Audio& a, int64_t channels) {
  auto wave = a.samples.dim() == 1 ? a.samples.unsqueeze(0) : a.samples;
  if (a.sample_rate != kSuperResolutionRate) wave = audio::resample(wave, a.sample_rate, kSuperResolutionRate);
  if (wave.size(0) != channels) wave = channels == 1 ? wave.mean(0, true) : wave.mean(0, true).expand({channels, -1}).contiguous();
  return wave;
}
}  // namespace detail

template <class Spec>
int run_sr_infer(int argc, char** argv, const std::string& program) {
  CLI::App app{"Super-resolve audio to 44.1 kHz with a SAGA-SR run (" + std::string(Spec::name) + ", " + program + ")."};
  take_last_of_repeated_options(app);
  std::string checkpoint, input, output = "enhanced.wav", reference, lfr, device_name = "auto";
  EnhanceOptions o;
  double guidance = -1.0, window_seconds = 0.0, overlap_seconds = -1.0;
  int64_t seed = 0, old_steps = 0;
  app.add_option("--checkpoint,--run", checkpoint, "Run folder written by the trainer (config.json; model_ema.safetensors or checkpoints/)")->required();
  app.add_option("--input", input, "Low-resolution audio (any rate; resampled to 44.1 kHz first)")->required();
  app.add_option("--out", output, "Output WAV; a spectrogram PNG is written next to it")->capture_default_str();
  app.add_option("--caption", o.caption, "Text description of the audio");
  app.add_option("--output-rolloff", o.output_rolloff, "Target roll-off ratio in [0, 1] (brightness)")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  add_nfe_option(app, o.steps, "Sampling steps (Euler)");
  app.add_option("--steps", old_steps, "Old name of --nfe in this program (--steps means optimiser updates everywhere else)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))->group("");
  app.add_option("--cfg,--guidance", guidance, "Guidance strength (default: the spec's)")->check(CLI::Range(0.0, 100.0));
  app.add_option("--lfr", lfr, "Low-frequency replacement: spec, off, hard, cross-fade")->capture_default_str();
  app.add_option("--reference", reference, "High-resolution original (any rate): also report LSD / SI-SDR against it");
  app.add_option("--window-seconds", window_seconds,
                 "Enhance long input in windows of this length (default: 1024 latent frames, the training length of the presets)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--overlap-seconds", overlap_seconds, "Cross-faded overlap of the windows (default: 1/8 of a window)")->check(CLI::NonNegativeNumber);
  add_seed_option(app, seed, /*allow_random=*/false);
  add_device_option(app, device_name);
  CLI11_PARSE(app, argc, argv);
  try {
    keep_freed_tensor_memory();
    if (app.count("--steps") > 0) {
      std::cerr << "[" << program << "] warning: --steps is the old name of --nfe here (sampling steps); use --nfe\n";
      if (app.count("--nfe") == 0) o.steps = old_steps;
    }
    if (guidance >= 0.0) o.guidance = guidance;
    o.seed = static_cast<uint64_t>(seed);
    o.low_frequency_replacement = parse_lfr(lfr);
    require_input_file(input, "--input");
    if (!reference.empty()) require_input_file(reference, "--reference");
    const auto png = std::filesystem::path(output).replace_extension(".png");
    require_output_file(output, "--out");
    auto run = load_run<Spec>(checkpoint, announce_device(device_name, program));
    const auto channels = run.pretransform->audio_channels();
    const auto low = detail::to_model_audio(audio::read_audio(input), channels);
    CHORD_CHECK(low.size(1) > 0, "--input '", input, "' has no samples");
    const int64_t ratio = run.pretransform->downsampling_ratio();
    if (window_seconds > 0.0) o.window_frames = std::max<int64_t>(1, static_cast<int64_t>(window_seconds * kSuperResolutionRate) / ratio);
    o.overlap_frames = overlap_seconds >= 0.0 ? static_cast<int64_t>(overlap_seconds * kSuperResolutionRate) / ratio : o.window_frames / 8;

    // The cost, up front; then a progress line per window.
    const auto windows = plan_windows(low.size(1), ratio, o.window_frames, o.overlap_frames);
    std::cerr << "[" << program << "] " << static_cast<double>(low.size(1)) / kSuperResolutionRate << " s of audio in " << windows.size()
              << " window(s) of up to " << static_cast<double>(o.window_frames * ratio) / kSuperResolutionRate << " s, " << o.steps
              << " sampling steps each\n";
    ProgressLine progress_line(program);
    std::function<void(int64_t, int64_t)> current;
    size_t current_window = SIZE_MAX;
    o.progress = [&](size_t window, size_t count, int64_t done, int64_t total) {
      if (window != current_window) {
        current_window = window;
        current = progress_line.task("window " + std::to_string(window + 1) + "/" + std::to_string(count));
      }
      current(done, total);
    };
    auto enhanced = enhance(run, low, o);
    audio::write_audio(output, enhanced.size(0) == 1 ? enhanced[0] : enhanced, kSuperResolutionRate);
    std::vector<std::pair<std::string, torch::Tensor>> panels{{"input (44.1 kHz)", low}, {"SAGA-SR " + std::string(Spec::name), enhanced}};
    if (!reference.empty()) {
      // At the model's rate and channel count, whatever the file's: metrics of a 48 kHz reference
      // against 44.1 kHz output would compare different frequencies bin by bin.
      const auto ref = detail::to_model_audio(audio::read_audio(reference), channels);
      if (ref.size(1) != low.size(1)) {
        std::cerr << "[" << program << "] warning: --reference lasts " << static_cast<double>(ref.size(1)) / kSuperResolutionRate
                  << " s and --input " << static_cast<double>(low.size(1)) / kSuperResolutionRate << " s; the metrics use the common start\n";
      }
      panels.emplace_back("reference", ref);
      const auto floor = sr_metrics(low, ref.mean(0, true)), got = sr_metrics(enhanced, ref.mean(0, true));
      std::cout << "[" << program << "] " << lsd_settings() << "\n"
                << "[" << program << "] LSD " << got.lsd << " (input " << floor.lsd << "), SI-SDR " << got.si_sdr << " dB (input "
                << floor.si_sdr << " dB)\n";
    }
    save_sr_spectrograms(png, panels);
    std::cout << "[" << program << "] audio: " << output << "\n[" << program << "] spectrogram: " << png.string() << "\n";
    return 0;
  } catch (const std::exception& error) {
    return report_error(program, error);
  }
}

}  // namespace chord::apps
