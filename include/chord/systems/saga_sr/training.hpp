#pragma once
/// @file
/// Training a SAGA-SR spec on a manifest into a run folder: `config.json`, checkpoints, logs, the EMA
/// weights (`model_ema.safetensors`) and `loss.png`, with the EMA weights' validation loss on fixed
/// degraded crops of a held-out manifest.

#include "chord/core/error.hpp"
#include "chord/core/random.hpp"
#include "chord/data/checked_manifest.hpp"
#include "chord/data/manifest.hpp"
#include "chord/io/console.hpp"
#include "chord/io/path_checks.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/nn/pretransform.hpp"
#include "chord/systems/saga_sr/config.hpp"
#include "chord/systems/saga_sr/data.hpp"
#include "chord/systems/saga_sr/presets.hpp"
#include "chord/systems/saga_sr/system.hpp"
#include "chord/train/ema.hpp"
#include "chord/train/observers.hpp"
#include "chord/train/parallel.hpp"
#include "chord/train/schedulers.hpp"
#include "chord/train/trainer.hpp"
#include "chord/viz/training_curves.hpp"

#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chord::systems::saga_sr {

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

/// The manifests of a run, every clip checked.
struct SrManifests {
  data::Manifest train;
  std::optional<data::Manifest> valid;
};

/// Checks the configuration and the manifests, then prepares the run folder (rank 0 of a multi-process
/// run): its checkpoints removed with `cfg.fresh`, `config.json` written.
inline SrManifests prepare_run_folder(const SrConfig& cfg, const std::string& label, train::DataParallelism* parallel) {
  cfg.check();
  CHORD_CHECK(!cfg.manifest.empty(), "--manifest is required (JSONL with \"audio\" and \"text\" per line)");
  const std::filesystem::path out = cfg.out;
  io::require_output_folder(out, "--out");
  SrManifests manifests{data::read_checked_manifest(cfg.manifest, "--manifest", sr_training_requirements(), cfg.skip_bad_items, label),
                        std::nullopt};
  if (!cfg.valid_manifest.empty()) {
    manifests.valid =
        data::read_checked_manifest(cfg.valid_manifest, "--valid-manifest", sr_training_requirements(), cfg.skip_bad_items, label);
  }
  if (!parallel || parallel->is_main()) {
    if (cfg.fresh) std::filesystem::remove_all(out / "checkpoints");
    std::ofstream(out / "config.json") << nlohmann::json(cfg).dump(2) << "\n";
  }
  if (parallel) parallel->barrier();  // no rank looks for checkpoints before --fresh removed them
  return manifests;
}

/// The training crop in samples: `cfg.segment_seconds` rounded down to whole latent frames (at least one).
inline int64_t segment_samples(const SrConfig& cfg, int64_t samples_per_frame) {
  return std::max<int64_t>(1, static_cast<int64_t>(cfg.segment_seconds * kSuperResolutionRate) / samples_per_frame) * samples_per_frame;
}

/// The parameters that train (a frozen text encoder's do not), in registration order.
inline std::vector<torch::Tensor> trainable_parameters(torch::nn::Module& module) {
  std::vector<torch::Tensor> trainable;
  for (const auto& p : module.parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  return trainable;
}

/// The size of the model and of the data, and the scale of the latents, on stdout.
template <class Spec>
void describe_run(const SrConfig& cfg, SuperResolutionSystemImpl<Spec>& system, nn::PretransformImpl& pretransform, const SrClips& clips,
                  int64_t segment, const std::vector<torch::Tensor>& trainable, const std::string& label, c10::Device device) {
  int64_t parameters = 0;
  for (const auto& p : trainable) parameters += p.numel();
  const auto ratio = pretransform.downsampling_ratio();
  std::cout << "[" << label << "] " << Spec::name << ": preset " << cfg.preset << ", " << parameters / 1e6 << " M trainable parameters, "
            << pretransform.describe() << ", text " << (system.text ? system.text->source() : std::string("none")) << ", "
            << clips.audio.size() << " clips, segments of " << segment << " samples (" << segment / ratio << " latent frames)\n";
  report_latent_scale(pretransform, clips, segment, static_cast<uint64_t>(cfg.seed), preset_sizes(parse_preset(cfg.preset)).embed_dim,
                      label, device);
}

inline train::TrainerOptions trainer_options(const SrConfig& cfg, c10::Device device, std::shared_ptr<train::DataParallelism> parallel) {
  train::TrainerOptions options;
  options.parallel = std::move(parallel);
  options.fingerprint = nlohmann::json(cfg).dump();
  options.max_steps = cfg.steps;
  options.log_every = cfg.log_every;
  options.checkpoint_every = cfg.checkpoint_every;
  options.keep_checkpoints = static_cast<int>(cfg.keep_checkpoints);
  options.checkpoint_dir = std::filesystem::path(cfg.out) / "checkpoints";
  options.seed = static_cast<uint64_t>(cfg.seed);
  options.device = device;
  options.fused_adamw = cfg.fused_adamw;
  return options;
}

/// Registers the system with the trainer as "system": AdamW on `trainable` with stable-audio-tools'
/// InverseLR, the EMA, and the console and JSONL observers (rank 0; every rank of a multi-process run
/// also writes logs/rank<N>.log). Returns the EMA.
template <class Spec>
train::ExponentialMovingAverage& add_system(train::Trainer& trainer, SuperResolutionSystem<Spec>& system,
                                            std::vector<torch::Tensor> trainable, const SrConfig& cfg, const std::string& label) {
  trainer.add_module("system", system.ptr());
  auto optimizer =
      std::make_shared<torch::optim::AdamW>(std::move(trainable), torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  // stable-audio-tools' InverseLR(inv_gamma 1e6, power 0.5, warmup 0.99).
  trainer.add_optimizer("system", optimizer, train::inverse_lr(cfg.lr, 1e6, 0.5, 0.99), cfg.max_grad_norm);
  auto ema_options = train::EmaOptions::stable_audio();
  ema_options.beta = cfg.ema_beta;
  auto& ema = trainer.add_ema("system", system.ptr(), ema_options);
  if (trainer.is_main_process()) {
    trainer.add_observer(std::make_shared<train::ConsoleProgress>(std::cerr, label));
    trainer.add_observer(std::make_shared<train::JsonlLogger>(std::filesystem::path(cfg.out) / "log.jsonl", !cfg.fresh));
  }
  if (trainer.world_size() > 1) {
    trainer.add_observer(std::make_shared<train::RankLog>(std::filesystem::path(cfg.out) / "logs", trainer.rank(), label));
  }
  return ema;
}

/// Validation: the EMA weights on fixed crops of the held-out clips, with a fixed generator, every
/// `cfg.validate_every` updates (0: after the last), reported as "valid/loss" by rank 0.
template <class Spec>
void add_validation(train::Trainer& trainer, const train::ExponentialMovingAverage& ema, const SrConfig& cfg,
                    const std::optional<data::Manifest>& valid_manifest, nn::Pretransform pretransform, int64_t segment, c10::Device device) {
  std::vector<SrExample> valid;
  if (valid_manifest) valid = validation_examples(load_clips(*valid_manifest, pretransform->audio_channels()), segment, cfg.batch_size);
  SuperResolutionSystem<Spec> averaged{nullptr};
  if (!valid.empty()) {
    averaged = SuperResolutionSystem<Spec>(cfg, pretransform->latent_channels());
    averaged->to(device);
  }
  trainer.set_after_update([&trainer, &ema, valid = std::move(valid), averaged, pretransform, device, validate_every = cfg.validate_every,
                            steps = cfg.steps](int64_t step) mutable {
    const bool due = validate_every > 0 ? step % validate_every == 0 : step == steps;
    if (valid.empty() || !due || !trainer.is_main_process()) return;
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
}

/// The training batches: random crops drawn from a seed per (epoch, index), 1000 per epoch.
inline train::BatchSource<SrExample> training_batches(std::shared_ptr<const SrClips> clips, int64_t segment, int64_t batch, uint64_t seed) {
  return {[](int64_t) { return size_t{1000}; },
          [clips = std::move(clips), segment, batch, seed](int64_t epoch, size_t index) {
            return random_example(*clips, batch, segment, seed * 1000003ull + static_cast<uint64_t>(epoch) * 1000ull + index);
          }};
}

/// The mean of the last 10 % of `losses` (at least the last one; 0 without any).
inline double mean_of_last_tenth(const std::vector<double>& losses) {
  double mean = 0.0;
  const size_t tail = std::max<size_t>(1, losses.size() / 10);
  for (size_t i = losses.size() - std::min(tail, losses.size()); i < losses.size(); ++i) mean += losses[i] / static_cast<double>(tail);
  return mean;
}

/// Writes the EMA weights to `path`. A frozen pretrained text encoder (t5-base) is not part of the
/// export: load_run reads it from its folder.
template <class Spec>
void export_ema_weights(const std::filesystem::path& path, SuperResolutionSystemImpl<Spec>& system, const train::ExponentialMovingAverage& ema,
                        const std::string& preset, nn::PretransformImpl& pretransform, int64_t step) {
  io::TensorMap weights;
  const bool frozen_text = system.text && system.text->frozen();
  for (const auto& [name, tensor] : ema.shadow()) {
    if (!(frozen_text && name.rfind("text.", 0) == 0)) weights.emplace(name, tensor);
  }
  io::save_safetensors(path, weights,
                       {{"spec", std::string(Spec::name)}, {"preset", preset}, {"pretransform", pretransform.describe()},
                        {"step", std::to_string(step)}});
}
}  // namespace detail

/// Trains `Spec` on `cfg.manifest` (every clip checked first); writes the run folder. With
/// `cfg.valid_manifest`, the EMA weights' loss on fixed validation crops is reported every
/// `cfg.validate_every` updates (and at the end). Progress goes to stderr under `label`.
/// With `parallel` (a process group from chord/distributed.hpp, training on `device`) this is one
/// process of a data-parallel job: rank 0 prepares the folder and writes the exports.
template <class Spec>
SrTrainResult train_super_resolution(const SrConfig& cfg, const std::string& label,
                                     std::shared_ptr<train::DataParallelism> parallel = nullptr,
                                     std::optional<c10::Device> process_device = std::nullopt) {
  const auto manifests = detail::prepare_run_folder(cfg, label, parallel.get());
  const std::filesystem::path out = cfg.out;
  auto pretransform = make_pretransform(cfg);
  const auto clips = std::make_shared<const SrClips>(load_clips(manifests.train, pretransform->audio_channels()));
  const int64_t segment = detail::segment_samples(cfg, pretransform->downsampling_ratio());
  const auto seed = static_cast<uint64_t>(cfg.seed);
  const auto device = process_device ? *process_device : io::announce_device(cfg.device, label);
  pretransform->to(device);

  torch::manual_seed(seed);
  SuperResolutionSystem<Spec> system(cfg, pretransform->latent_channels());
  auto trainable = detail::trainable_parameters(*system);
  const bool main_process = !parallel || parallel->is_main();
  if (main_process) detail::describe_run<Spec>(cfg, *system, *pretransform, *clips, segment, trainable, label, device);

  train::Trainer trainer(detail::trainer_options(cfg, device, parallel));
  auto& ema = detail::add_system<Spec>(trainer, system, std::move(trainable), cfg, label);
  detail::add_validation<Spec>(trainer, ema, cfg, manifests.valid, pretransform, segment, device);

  std::vector<double> losses;
  auto result = trainer.fit<SrExample>(detail::training_batches(clips, segment, cfg.batch_size, seed),
                                       [&](const SrExample& example, train::StepContext& context) {
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
  r.final_loss = detail::mean_of_last_tenth(losses);
  r.weights = out / "model_ema.safetensors";
  if (main_process) {
    detail::export_ema_weights<Spec>(r.weights, *system, ema, cfg.preset, *pretransform, result.step);
    r.loss_curve = viz::save_training_curves_png(out / "log.jsonl", out / "loss.png", {"loss", "valid/loss"},
                                                 {.title = label + " loss", .y_label = "loss", .log_y = true});
  }
  CHORD_CHECK(result.reason != train::StopReason::nonfinite, label, ": training stopped on non-finite losses at step ", result.step);
  return r;
}

}  // namespace chord::systems::saga_sr
