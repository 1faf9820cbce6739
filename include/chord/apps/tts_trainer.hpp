#pragma once
/// @file
/// A ready-made trainer program for any FlowModel spec with F5-style text + audio-prompt
/// conditioning (F5-TTS, DTM-F5TTS, your variants): `chord_add_trainer(... APP tts_trainer)` builds it
/// for a spec struct. Manifest in, checkpoints, logs, EMA export and a loss curve out.

#include "chord/apps/cli.hpp"
#include "chord/apps/run_report.hpp"
#include "chord/apps/manifest_check.hpp"
#include "chord/apps/training_processes.hpp"
#include "chord/audio/mel.hpp"
#include "chord/core/allocator.hpp"
#include "chord/data/speech_dataset.hpp"
#include "chord/systems/f5tts.hpp"
#include "chord/text/tokenizer.hpp"
#include "chord/train/samplers.hpp"
#include "chord/train/trainer.hpp"
#include "chord/viz/training_curves.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chord::apps {

/// Everything the trainer can be told, from a JSON config (`--config`) and/or the command line
/// (which wins). Field names are the JSON keys and, with '_' → '-', the command-line flags.
struct TtsTrainerConfig {
  std::string manifest;
  std::string valid_manifest;
  std::string vocab;
  std::string preset = "tiny";
  std::string out = "out/tts";
  std::string init;
  std::string init_backbone;
  bool freeze_backbone = false;
  int64_t transitions = 16;  ///< DTM only: T
  int64_t head_width = 512;  ///< DTM only
  int64_t head_depth = 6;    ///< DTM only
  int64_t steps = 1000;
  double lr = 7.5e-5;
  int64_t warmup = 100;
  double weight_decay = 0.01;
  double max_grad_norm = 1.0;
  int64_t frames_per_batch = 3000;
  int64_t max_samples = 64;
  int64_t grad_accumulation = 1;
  double dropout = 0.1;
  int64_t ema_update_after_step = 100;
  int64_t ema_update_every = 10;
  double ema_beta = 0.9999;
  int64_t log_every = 10;
  int64_t checkpoint_every = 500;
  int64_t keep_checkpoints = 3;
  int64_t validate_every = 0;
  int64_t seed = 0;
  bool bf16 = false;
  bool fused_adamw = false;
  bool fresh = false;
  bool skip_bad_items = false;
  std::string device = "auto";
  bool attn_mask_enabled = false;                  ///< F5-TTS `attn_mask_enabled`
  bool text_embedding_average_upsampling = false;  ///< F5-TTS `text_embedding_average_upsampling`

  NLOHMANN_DEFINE_TYPE_INTRUSIVE_WITH_DEFAULT(TtsTrainerConfig, manifest, valid_manifest, vocab, preset, out, init, init_backbone, freeze_backbone, transitions,
                                              head_width, head_depth, steps, lr,
                                              warmup, weight_decay, max_grad_norm, frames_per_batch, max_samples,
                                              grad_accumulation, dropout, ema_update_after_step, ema_update_every, ema_beta,
                                              log_every, checkpoint_every, keep_checkpoints, validate_every, seed, bf16, fused_adamw, fresh,
                                              skip_bad_items, device, attn_mask_enabled, text_embedding_average_upsampling)

  /// Every numeric value in its range, whether it came from the command line or a JSON config.
  void check() const {
    require_range("--steps", steps, int64_t{1});
    require_positive("--lr", lr);
    require_range("--warmup", warmup, int64_t{0});
    require_range("--weight-decay", weight_decay, 0.0);
    require_range("--max-grad-norm", max_grad_norm, 0.0);
    require_range("--frames-per-batch", frames_per_batch, int64_t{1});
    require_range("--max-samples", max_samples, int64_t{1});
    require_range("--grad-accumulation", grad_accumulation, int64_t{1});
    require_range("--dropout", dropout, 0.0, 0.99);
    require_range("--ema-update-after-step", ema_update_after_step, int64_t{0});
    require_range("--ema-update-every", ema_update_every, int64_t{1});
    require_range("--ema-beta", ema_beta, 0.0, 1.0);
    require_range("--log-every", log_every, int64_t{1});
    require_range("--checkpoint-every", checkpoint_every, int64_t{0});
    require_range("--keep-checkpoints", keep_checkpoints, int64_t{0});
    require_range("--validate-every", validate_every, int64_t{0});
    require_range("--transitions", transitions, int64_t{1});
    require_range("--head-width", head_width, int64_t{1});
    require_range("--head-depth", head_depth, int64_t{1});
    require_range("--seed", seed, int64_t{0});
  }
};

/// What the F5-TTS data pipeline needs of each clip: the reference's [0.3, 30] s filter, readable,
/// finite samples. Any rate (it resamples).
inline data::AudioRequirements tts_audio_requirements() {
  data::AudioRequirements needs;
  needs.min_seconds = 0.3;
  needs.max_seconds = 30.0;
  return needs;
}

/// The trainer's command line: every field of TtsTrainerConfig, '_' → '-'.
template <class Spec>
void add_tts_trainer_options(CLI::App& app, TtsTrainerConfig& cfg, std::string& config_file) {
  take_last_of_repeated_options(app);
  app.add_option("--config", config_file, "JSON file with any of the options below");
  app.add_option("--manifest", cfg.manifest, "Training manifest (JSONL: audio, text)");
  app.add_option("--valid-manifest", cfg.valid_manifest, "Held-out manifest for validation loss");
  app.add_option("--vocab", cfg.vocab, "Vocab file (one token per line, space first); default: built from the manifest");
  app.add_option("--preset", cfg.preset, "Backbone size: tiny, F5TTS_v1_Small, F5TTS_v1_Base, F5TTS_Base")->capture_default_str();
  app.add_option("--out", cfg.out, "Output folder")->capture_default_str();
  app.add_option("--init", cfg.init, "Start the whole model from these weights (.safetensors, trainer checkpoint or run folder)");
  app.add_option("--init-backbone", cfg.init_backbone,
                 "Start the backbone from these weights (e.g. a published F5-TTS checkpoint for a DTM model)");
  app.add_flag("--freeze-backbone", cfg.freeze_backbone,
               "Train only the objective's head; the backbone stays frozen and in eval mode (no dropout)");
  if constexpr (requires(typename Spec::objective o) { o.head_width; }) {
    app.add_option("--transitions", cfg.transitions, "DTM: transitions T of training")->capture_default_str();
    app.add_option("--head-width", cfg.head_width, "DTM: width of the head MLP")->capture_default_str();
    app.add_option("--head-depth", cfg.head_depth, "DTM: residual blocks of the head")->capture_default_str();
  }
  app.add_option("--steps", cfg.steps, "Optimiser updates")->capture_default_str();
  app.add_option("--lr", cfg.lr, "Peak learning rate (AdamW)")->capture_default_str();
  app.add_option("--warmup", cfg.warmup, "Linear warm-up updates, then linear decay")->capture_default_str();
  app.add_option("--weight-decay", cfg.weight_decay, "AdamW weight decay")->capture_default_str();
  app.add_option("--max-grad-norm", cfg.max_grad_norm, "Gradient clipping (0 = off)")->capture_default_str();
  app.add_option("--frames-per-batch", cfg.frames_per_batch, "Mel frames per batch (F5-TTS DynamicBatchSampler)")->capture_default_str();
  app.add_option("--max-samples", cfg.max_samples, "Utterances per batch at most")->capture_default_str();
  app.add_option("--grad-accumulation", cfg.grad_accumulation, "Batches per update")->capture_default_str();
  app.add_option("--dropout", cfg.dropout, "Backbone dropout")->capture_default_str();
  app.add_option("--ema-update-after-step", cfg.ema_update_after_step, "EMA copies the weights until this update")->capture_default_str();
  app.add_option("--ema-update-every", cfg.ema_update_every, "EMA averages every n updates")->capture_default_str();
  app.add_option("--ema-beta", cfg.ema_beta, "EMA decay ceiling")->capture_default_str();
  app.add_option("--log-every", cfg.log_every, "Updates between logged scalars")->capture_default_str();
  app.add_option("--checkpoint-every", cfg.checkpoint_every, "Updates between checkpoints")->capture_default_str();
  app.add_option("--keep-checkpoints", cfg.keep_checkpoints, "Newest checkpoints kept")->capture_default_str();
  app.add_option("--validate-every", cfg.validate_every, "Updates between validation losses (0 = at the end)")->capture_default_str();
  app.add_option("--seed", cfg.seed, "Seed of every random draw")->capture_default_str();
  app.add_flag("--attn-mask-enabled", cfg.attn_mask_enabled, "Hide padded frames from attention (F5-TTS attn_mask_enabled)");
  app.add_flag("--text-embedding-average-upsampling", cfg.text_embedding_average_upsampling,
               "Spread each text token over its share of the frames (F5-TTS text_embedding_average_upsampling)");
  app.add_flag("--bf16", cfg.bf16, "bf16 autocast for forward and loss");
  add_fused_adamw_flag(app, cfg.fused_adamw);
  app.add_flag("--fresh", cfg.fresh, "Start over: ignore and delete checkpoints in --out");
  add_skip_bad_items_flag(app, cfg.skip_bad_items);
  add_device_option(app, cfg.device);
}

/// The vocabulary: --vocab, else the run folder's (a resumed run), else every character of the
/// manifest's texts. Characters of the texts the vocabulary lacks are named (they train as spaces).
inline text::VocabTokenizer tts_vocabulary(const TtsTrainerConfig& cfg, const data::Manifest& manifest, const std::string& program) {
  const std::filesystem::path out = cfg.out;
  std::vector<std::string> texts;
  for (const auto& item : manifest.items()) texts.push_back(item.text);
  if (cfg.vocab.empty() && !std::filesystem::exists(out / "vocab.txt")) return text::VocabTokenizer::from_texts(texts);
  const auto vocab = text::VocabTokenizer::from_file(cfg.vocab.empty() ? out / "vocab.txt" : std::filesystem::path(cfg.vocab));
  const auto unknown = systems::f5tts::unknown_characters(vocab, texts);
  if (!unknown.empty()) {
    std::string list;
    for (const auto& c : unknown) list += (list.empty() ? "'" : ", '") + c + "'";
    std::cerr << "[" << program << "] warning: the manifest's texts use " << unknown.size()
              << " character(s) the vocabulary lacks, which train as spaces: " << list << "\n";
  }
  return vocab;
}

namespace detail {
/// What a run starts from, checked before any long work.
struct TtsRunInputs {
  c10::Device device = c10::kCPU;
  data::Manifest manifest;
  std::optional<data::Manifest> valid_manifest;
  text::VocabTokenizer vocab;
};

/// Checks the configuration and the manifests, prepares the run folder (rank 0: checkpoints removed
/// with --fresh, config.json written) and settles the vocabulary (vocab.txt written by rank 0).
inline TtsRunInputs prepare_tts_run(const TtsTrainerConfig& cfg, const TrainingProcesses& processes, const std::string& program) {
  cfg.check();
  CHORD_CHECK(!cfg.manifest.empty(), "--manifest is required (a JSONL file with \"audio\" and \"text\" per line)");
  const std::filesystem::path out = cfg.out;
  require_output_folder(out, "--out");
  const auto device = processes.device();
  auto manifest = read_checked_manifest(cfg.manifest, "--manifest", tts_audio_requirements(), cfg.skip_bad_items, program);
  std::optional<data::Manifest> valid_manifest;
  if (!cfg.valid_manifest.empty()) {
    valid_manifest = read_checked_manifest(cfg.valid_manifest, "--valid-manifest", tts_audio_requirements(), cfg.skip_bad_items, program);
  }
  auto vocab = tts_vocabulary(cfg, manifest, program);
  if (processes.is_main()) {
    if (cfg.fresh) std::filesystem::remove_all(out / "checkpoints");
    std::ofstream(out / "config.json") << nlohmann::json(cfg).dump(2) << "\n";
    vocab.save(out / "vocab.txt");
  }
  processes.barrier();  // no rank looks for checkpoints before --fresh removed them
  return {device, std::move(manifest), std::move(valid_manifest), std::move(vocab)};
}

/// The model's batch of a dataset batch: log-mels, their lengths and the texts' token ids.
template <class Spec>
typename FlowModel<Spec>::Batch tts_model_batch(const data::SpeechBatch& b, const text::VocabTokenizer& vocab) {
  return typename FlowModel<Spec>::Batch{b.mel, b.mel_lengths, systems::f5tts::text_ids(vocab, b.text)};
}

/// The model options of the preset with the configured flags (and a DTM head's size).
template <class Spec>
FlowModelOptions<Spec> tts_model_options(const TtsTrainerConfig& cfg, int64_t vocab_size) {
  FlowModelOptions<Spec> options(systems::f5tts::preset_options(systems::f5tts::parse_preset(cfg.preset), vocab_size));
  options.backbone.dropout(cfg.dropout).attn_mask_enabled(cfg.attn_mask_enabled)
      .text_embedding_average_upsampling(cfg.text_embedding_average_upsampling);
  if constexpr (requires { options.objective.head_width; }) {
    options.objective.transitions = cfg.transitions;
    options.objective.head_width = cfg.head_width;
    options.objective.head_depth = cfg.head_depth;
  }
  return options;
}

/// The model, seeded, started from --init / --init-backbone, its backbone frozen with --freeze-backbone.
template <class Spec>
FlowModel<Spec> build_tts_model(const TtsTrainerConfig& cfg, const FlowModelOptions<Spec>& options) {
  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  FlowModel<Spec> model(options);
  if (!cfg.init.empty()) systems::f5tts::load_checkpoint(model, cfg.init);
  if (!cfg.init_backbone.empty()) {
    systems::f5tts::load_checkpoint(model, cfg.init_backbone, systems::f5tts::CheckpointScope::backbone);
  }
  if (cfg.freeze_backbone) {
    CHORD_CHECK(FlowModel<Spec>::Impl::has_head, "--freeze-backbone leaves nothing to train: ", Spec::objective::name,
                " has no head of its own");
    model->freeze_backbone();
  }
  return model;
}

inline train::TrainerOptions tts_trainer_options(const TtsTrainerConfig& cfg, const TrainingProcesses& processes) {
  train::TrainerOptions options;
  processes.configure(options, nlohmann::json(cfg).dump());
  options.max_steps = cfg.steps;
  options.grad_accumulation = cfg.grad_accumulation;
  options.log_every = cfg.log_every;
  options.checkpoint_every = cfg.checkpoint_every;
  options.keep_checkpoints = static_cast<int>(cfg.keep_checkpoints);
  options.checkpoint_dir = std::filesystem::path(cfg.out) / "checkpoints";
  options.seed = static_cast<uint64_t>(cfg.seed);
  if (cfg.bf16) options.autocast_dtype = torch::kBFloat16;
  options.fused_adamw = cfg.fused_adamw;
  return options;
}

/// Registers the model with the trainer as "model": AdamW on its trainable parameters with warm-up
/// and linear decay, the EMA, and the observers of the run folder. Returns the EMA.
template <class Spec>
train::ExponentialMovingAverage& add_tts_model(train::Trainer& trainer, FlowModel<Spec>& model, const TtsTrainerConfig& cfg,
                                               const TrainingProcesses& processes, const std::string& program) {
  const std::filesystem::path out = cfg.out;
  trainer.add_module("model", model.ptr());
  auto optimizer = std::make_shared<torch::optim::AdamW>(
      model->trainable_parameters(), torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  trainer.add_optimizer("model", optimizer,
                        train::warmup_linear_decay(cfg.lr, std::min(cfg.warmup, cfg.steps - 1), cfg.steps + 1),
                        cfg.max_grad_norm);
  train::EmaOptions ema_options = train::EmaOptions::f5tts();
  ema_options.beta = cfg.ema_beta;
  ema_options.update_after_step = cfg.ema_update_after_step;
  ema_options.update_every = cfg.ema_update_every;
  auto& ema = trainer.add_ema("model", model.ptr(), ema_options);
  processes.add_observers(trainer, out, program, !cfg.fresh);
  return ema;
}

/// Validation: the EMA weights on the held-out manifest, with a fixed generator, every
/// --validate-every updates (0: after the last), reported as "valid/loss" (by rank 0: the EMA is the
/// same on every rank). `vocab` must outlive the trainer's fit().
template <class Spec>
void add_tts_validation(train::Trainer& trainer, const train::ExponentialMovingAverage& ema, const TtsTrainerConfig& cfg,
                        const std::optional<data::Manifest>& valid_manifest, const audio::MelSpectrogramOptions& mel_options,
                        const std::filesystem::path& cache, const FlowModelOptions<Spec>& options, const text::VocabTokenizer& vocab,
                        c10::Device device) {
  std::shared_ptr<const data::SpeechDataset> valid;
  if (valid_manifest) valid = std::make_shared<const data::SpeechDataset>(*valid_manifest, mel_options, cache);
  FlowModel<Spec> averaged(options);  // built even without a validation set: the global generator's draws stay as they were
  averaged->to(device);
  trainer.set_after_update([&trainer, &ema, &vocab, valid, averaged, device, validate_every = cfg.validate_every,
                            steps = cfg.steps](int64_t step) mutable {
    const bool due = validate_every > 0 ? step % validate_every == 0 : step == steps;
    if (!valid || !due || !trainer.is_main_process()) return;
    torch::NoGradGuard no_grad;
    ema.copy_to(*averaged);
    averaged->eval();
    auto gen = make_generator(12345, device);
    double total = 0.0;
    for (size_t i = 0; i < valid->size(); ++i) {
      total += averaged->loss(tts_model_batch<Spec>(valid->batch({static_cast<int64_t>(i)}), vocab), gen).loss.template item<double>();
    }
    trainer.report(step, {{"valid/loss", total / static_cast<double>(valid->size())}});
  });
}

/// Writes the EMA weights (with the flags the weights cannot show, the preset, the objective and the
/// step in their metadata) and the loss curve, and says where everything is.
template <class Spec>
void export_tts_run(const TtsTrainerConfig& cfg, const FlowModelOptions<Spec>& options, const train::ExponentialMovingAverage& ema,
                    const train::TrainResult& result, const std::string& program) {
  const std::filesystem::path out = cfg.out;
  auto metadata = systems::f5tts::invisible_flags_metadata(options.backbone);
  metadata.insert({{"preset", cfg.preset}, {"objective", std::string(Spec::objective::name)}, {"step", std::to_string(result.step)}});
  io::save_safetensors(out / "model_ema.safetensors", ema.state_dict(), metadata);
  const bool plotted = viz::save_training_curves_png(out / "log.jsonl", out / "loss.png", {"loss", "valid/loss"},
                                                     {.title = program + " loss", .y_label = "loss", .log_y = true});
  report_run_end(program, train::to_string(result.reason), result.step,
                 {{"EMA weights", (out / "model_ema.safetensors").string()},
                  {"vocab", (out / "vocab.txt").string()},
                  {"loss curve", plotted ? (out / "loss.png").string() : "none yet (no update logged)"},
                  {"logs", (out / "log.jsonl").string() + ", " + (out / "tensorboard").string()}},
                 result.reason == train::StopReason::interrupted);
}

/// Trains the model of `cfg` and exports the run; the exit status (1 when the losses went non-finite).
template <class Spec>
int train_tts(const TtsTrainerConfig& cfg, const std::string& program) {
  using Batch = typename FlowModel<Spec>::Batch;
  const TrainingProcesses processes(cfg.device, program);  // joins a torchrun job before any long work
  const auto run = prepare_tts_run(cfg, processes, program);
  const auto& vocab = run.vocab;
  const auto mel_options = audio::MelSpectrogramOptions::vocos_24k();
  const auto cache = std::filesystem::path(cfg.manifest).parent_path() / "cache" / "logmel";
  auto dataset = std::make_shared<data::SpeechDataset>(run.manifest, mel_options, cache);
  auto sampler = std::make_shared<const train::DynamicBatchSampler>(
      dataset->frame_lengths(), static_cast<double>(cfg.frames_per_batch), cfg.max_samples, 666);
  CHORD_CHECK(sampler->size() > 0, "no utterance fits --frames-per-batch ", cfg.frames_per_batch);
  auto batches = train::sampled_batches(
      sampler, [dataset, &vocab](const std::vector<int64_t>& indices) { return tts_model_batch<Spec>(dataset->batch(indices), vocab); },
      [&manifest = run.manifest](const std::vector<int64_t>& indices) {  // names a bad batch's files
        std::string files;
        for (auto i : indices) files += (files.empty() ? "" : ", ") + manifest.items().at(static_cast<size_t>(i)).audio.string();
        return files;
      });

  const auto options = tts_model_options<Spec>(cfg, vocab.size());
  auto model = build_tts_model<Spec>(cfg, options);
  int64_t parameters = 0;
  for (const auto& p : model->parameters()) parameters += p.numel();

  train::Trainer trainer(tts_trainer_options(cfg, processes));
  auto& ema = add_tts_model<Spec>(trainer, model, cfg, processes, program);
  add_tts_validation<Spec>(trainer, ema, cfg, run.valid_manifest, mel_options, cache, options, vocab, run.device);

  if (processes.is_main()) std::cout << "[" << program << "] " << Spec::objective::name << ", preset " << cfg.preset << ", "
            << parameters / 1000000.0 << " M parameters, vocab " << vocab.size() << ", " << dataset->size()
            << " utterances in " << sampler->size() << " batches per epoch"
            << (processes.world_size() > 1 ? " (shared by " + std::to_string(processes.world_size()) + " processes)" : "") << "\n";
  auto result = trainer.fit<Batch>(batches, [&](const Batch& batch, train::StepContext& context) {
    model->train();
    auto losses = model->loss(batch, context.generator(), context.step());
    context.backward("model", losses.loss);
    return train::Trainer::Scalars{{"loss", losses.loss}};
  });
  if (processes.is_main()) export_tts_run<Spec>(cfg, options, ema, result, program);
  return result.reason == train::StopReason::nonfinite ? 1 : 0;
}
}  // namespace detail

template <class Spec>
int run_tts_trainer(int argc, char** argv, const std::string& program) {
  TtsTrainerConfig cfg;
  try {
    nlohmann::json config = cfg;
    read_json_config(argc, argv, config);
    cfg = config.get<TtsTrainerConfig>();
  } catch (const std::exception& error) {
    std::cerr << program << ": " << error.what() << "\n";
    return 2;
  }
  CLI::App app{"Train a " + std::string(Spec::objective::name) + " text-to-speech model (" + program +
               ") on a JSONL manifest. Options may also come from --config <file.json> (same names, '_' for '-')."};
  std::string config_file;
  add_tts_trainer_options<Spec>(app, cfg, config_file);
  CLI11_PARSE(app, argc, argv);

  try {
    keep_freed_tensor_memory();
    return detail::train_tts<Spec>(cfg, program);
  } catch (const std::exception& error) {
    return report_error(program, error);
  }
}

}  // namespace chord::apps
