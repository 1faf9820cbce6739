#pragma once
/// @file
/// `chord-vits-train`: Bert-VITS2's training program (fishaudio/Bert-VITS2 8f7fbd8 `train_ms.py`) on
/// chord's GanModel and Trainer. A config.json in the reference's format (or `--preset tiny|v2.3`), a
/// cleaned training filelist and a validation filelist in; a run folder out: checkpoints (the same
/// command resumes from the newest), config.json, the generator's weights in the reference's key
/// layout (`generator.safetensors`), logs, and at each evaluation the mel and alignment PNGs and the
/// audio of a held-out utterance. The work is the library's; this file parses, checks before the long
/// work, and prints.

#include "chord/apps/cli.hpp"
#include "chord/apps/published_models.hpp"
#include "chord/apps/run_report.hpp"
#include "chord/apps/vits_pictures.hpp"
#include "chord/apps/training_processes.hpp"
#include "chord/audio/io.hpp"
#include "chord/core/allocator.hpp"
#include "chord/core/parse.hpp"
#include "chord/core/random.hpp"
#include "chord/io/checkpoint.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/io/state_dict.hpp"
#include "chord/systems/bert_vits2.hpp"
#include "chord/systems/bert_vits2/checkpoints.hpp"
#include "chord/systems/bert_vits2/item.hpp"
#include "chord/systems/bert_vits2/run_config.hpp"
#include "chord/systems/bert_vits2/training_data.hpp"
#include "chord/train/gan_training.hpp"
#include "chord/train/observers.hpp"
#include "chord/train/samplers.hpp"
#include "chord/train/schedulers.hpp"
#include "chord/train/trainer.hpp"
#include "chord/viz/plots.hpp"
#include "chord/viz/training_curves.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace chord::apps {

/// The trainer's command line. Unset optionals take the config's (or the preset's) value.
struct VitsTrainerConfig {
  std::string config, preset, filelist, valid_filelist, out = "out/vits", device = "auto", wavlm_weights;
  std::string init;  ///< a base model's G_/D_/DUR_/WD_ files (a folder or one G_<step> file)
  std::string boundaries = "32,300,400,500,600,700,800,900,1000";  ///< train_ms.py's
  int64_t steps = 1000;
  std::optional<int64_t> batch_size, log_every, validate_every, checkpoint_every, seed;
  std::optional<double> lr;
  int64_t keep_checkpoints = 3;
  int64_t duration_discriminator_start = 0;
  std::vector<std::string> freeze;  ///< more generator parameter prefixes to freeze (added to the config's)
  bool no_wavlm = false, fresh = false, skip_bad_items = false, bf16 = false, keep_best = false, fused_adamw = false;
};

inline void add_vits_trainer_options(CLI::App& app, VitsTrainerConfig& c) {
  take_last_of_repeated_options(app);
  app.add_option("--config", c.config, "Bert-VITS2 config.json (train, data and model sections, the reference's format)");
  app.add_option("--preset", c.preset, "Sizes without a config: tiny (two CPU cores) or v2.3")->check(CLI::IsMember({"tiny", "v2.3"}));
  app.add_option("--filelist", c.filelist, "Training filelist: wav|speaker|language|text|phones|tones|word2ph (default: data.training_files)");
  app.add_option("--valid-filelist", c.valid_filelist, "Validation filelist; its first utterance is drawn at each evaluation (default: data.validation_files)");
  app.add_option("--out", c.out, "Run folder")->capture_default_str();
  app.add_option("--init", c.init, "Base model to fine-tune from: a folder of Bert-VITS2 model files (G_<step>, D_, DUR_, WD_ "
                 ".safetensors, e.g. converted by scripts/convert_bert_vits2.py) or one G_<step> file; another speaker count "
                 "re-initialises the speaker table only. Used on a fresh start; a run with checkpoints resumes them")
      ->check(CLI::ExistingPath);
  app.add_option("--steps", c.steps, "Optimiser updates (each member's and the generator's)")->check(CLI::Range(int64_t{1}, int64_t{1} << 40))->capture_default_str();
  app.add_option("--batch-size", c.batch_size, "Utterances per batch (default: train.batch_size)")->check(CLI::Range(int64_t{1}, int64_t{4096}));
  app.add_option("--freeze", c.freeze, "Generator parameters that do not train, by name prefix (e.g. enc_p.bert_proj.,dec.); "
                 "added to the config's train.freeze and freeze_*_bert")->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--lr", c.lr, "Learning rate of every optimiser (default: train.learning_rate)")->check(CLI::PositiveNumber);
  app.add_option("--log-every", c.log_every, "Updates between printed losses (default: train.log_interval)")->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  app.add_option("--validate-every", c.validate_every, "Updates between evaluations: PNGs and audio of a held-out utterance (default: train.eval_interval; also after the last update)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  app.add_option("--checkpoint-every", c.checkpoint_every, "Updates between checkpoints (default: --validate-every)")->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  app.add_option("--keep-checkpoints", c.keep_checkpoints, "Newest checkpoints kept (and model files per prefix in models/)")->check(CLI::Range(int64_t{0}, int64_t{1000}))->capture_default_str();
  app.add_option("--boundaries", c.boundaries, "Bucket boundaries of DistributedBucketSampler in frames (file bytes / (2 hop)), comma-separated")->capture_default_str();
  app.add_flag("--no-wavlm", c.no_wavlm, "Train without the WavLM discriminator (no WavLM weights needed)");
  app.add_option("--wavlm-weights", c.wavlm_weights, "WavLM weights (.safetensors, microsoft/wavlm-base-plus in the Hugging Face layout); required unless --no-wavlm");
  app.add_option("--duration-discriminator-start", c.duration_discriminator_start, "First update at which the duration discriminator trains")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40))->capture_default_str();
  app.add_option("--seed", c.seed, "Seed of every random draw (default: train.seed)")->check(CLI::Range(int64_t{0}, int64_t{1} << 62));
  app.add_flag("--bf16", c.bf16, "bf16 autocast for forward and loss (train.bf16_run)");
  add_fused_adamw_flag(app, c.fused_adamw);
  app.add_flag("--keep-best", c.keep_best, "At each evaluation, score the validation filelist (the generator's mel, KL and duration "
               "terms) and keep the generator with the lowest mel term as generator_best.safetensors");
  app.add_flag("--fresh", c.fresh, "Start over: delete the run folder's checkpoints and model files");
  app.add_flag("--skip-bad-items", c.skip_bad_items,
               "Continue without filelist items whose audio is missing, unreadable, at another rate, not mono or too short "
               "(they are listed); by default they stop the program before any work");
  add_device_option(app, c.device);
}

namespace detail {

/// "32,300,400" → ascending integers.
inline std::vector<int64_t> parse_boundaries(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    const auto value = parse_number<int64_t>(part);
    CHORD_CHECK(value.has_value(), "--boundaries: '", part, "' is not an integer");
    CHORD_CHECK(out.empty() || *value > out.back(), "--boundaries must be ascending, got '", text, "'");
    out.push_back(*value);
  }
  CHORD_CHECK(out.size() >= 2, "--boundaries needs at least two values, got '", text, "'");
  return out;
}

/// The sizes of the discriminators: the reference's, or for the tiny preset small enough for two cores.
template <class Spec>
GanModelOptions<Spec> vits_model_options(const systems::bert_vits2::VitsRunConfig& config, const VitsTrainerConfig& cli, double lr) {
  GanModelOptions<Spec> options(config.synthesizer);
  auto& set = options.discriminators;
  using Set = typename Spec::discriminators;
  const auto& s = config.synthesizer;
  const bool tiny = config.preset == "tiny";
  if constexpr (Set::template has<disc::MultiPeriod>) {
    auto& mpd = set.template get<disc::MultiPeriod>();
    if (tiny) {
      mpd.options.period_channels({4, 8, 16, 32, 32});
      mpd.options.scale(nn::vits::DiscriminatorSOptions().channels({4, 16, 16, 32, 32, 32}).groups({1, 4, 4, 8, 8, 1}));
    }
    mpd.learning_rate = lr;
    mpd.lr_decay = config.lr_decay;
  }
  if constexpr (Set::template has<disc::Duration>) {
    auto& dur = set.template get<disc::Duration>();
    // train_ms.py: DurationDiscriminator(hidden, hidden, 3, 0.1, gin_channels).
    dur.options = nn::vits::DurationDiscriminatorOptions(s.hidden_channels(), s.hidden_channels(), 3, 0.1, s.gin_channels());
    dur.start_step = cli.duration_discriminator_start;
    dur.learning_rate = lr;
    dur.lr_decay = config.lr_decay;
  }
  if constexpr (Set::template has<disc::WavLM>) {
    auto& wavlm = set.template get<disc::WavLM>();
    wavlm.weights = cli.wavlm_weights;
    wavlm.discriminator = nn::vits::WavLMDiscriminatorOptions()
                              .slm_hidden(config.slm_hidden)
                              .slm_layers(config.slm_layers)
                              .initial_channel(config.slm_initial_channel);
    wavlm.model_sample_rate = config.sampling_rate();
    wavlm.slm_sample_rate = config.slm_sample_rate;
    wavlm.learning_rate = lr;
    wavlm.lr_decay = config.lr_decay;
  }
  return options;
}

/// The evaluation of train_ms.py's `evaluate()`: the generator's inference on one held-out utterance
/// with sdp_ratio 0 (the deterministic duration predictor) and 1 (the stochastic one), as the reference
/// does, at most 1000 frames, a fixed generator: both mels beside the ground truth's, each one's
/// predicted-duration alignment and audio (`_sdp1` for ratio 1), and the MAS alignment against its
/// recording. Returns the paths written.
template <class Spec>
std::vector<std::filesystem::path> vits_evaluate(GanModel<Spec>& model, const systems::bert_vits2::Item& item,
                                                 const systems::bert_vits2::MelProcessing& mel, const std::filesystem::path& folder,
                                                 int64_t step, c10::Device device) {
  torch::NoGradGuard no_grad;
  auto& g = model->generator;
  const bool was_training = g->is_training();
  g->eval();
  auto one = [&](const torch::Tensor& t) { return t.unsqueeze(0).to(device); };
  const auto x_lengths = torch::tensor({item.phones.size(0)}, torch::kLong).to(device);
  auto infer = [&](double sdp_ratio) {
    auto gen = make_generator(1234, device);
    return g->infer(one(item.phones), x_lengths, item.sid.to(device), one(item.tones), one(item.languages), one(item.bert),
                    one(item.ja_bert), one(item.en_bert), systems::bert_vits2::InferOptions().max_len(1000).sdp_ratio(sdp_ratio), gen);
  };
  const std::array results{infer(0.0), infer(1.0)};
  // What the model has learnt to align: MAS between the utterance's phones and its own recording
  // (train_ms.py's "all/attn" image), from the training forward in eval mode.
  auto gen = make_generator(1234, device);
  const auto forward = g->forward(systems::bert_vits2::collate({item}).to(device), gen);
  if (was_training) g->train();

  std::filesystem::create_directories(folder);
  char digits[32];
  std::snprintf(digits, sizeof digits, "%08lld", static_cast<long long>(step));
  const std::string stem = digits, at_step = " (step " + std::to_string(step) + ")";
  const auto alignment = alignment_picture_options();
  std::vector<std::filesystem::path> written;
  std::vector<viz::SpectrogramPanel> mels;
  for (size_t i = 0; i < results.size(); ++i) {
    const std::string suffix = i == 0 ? "" : "_sdp1", ratio = i == 0 ? "sdp_ratio 0" : "sdp_ratio 1";
    const auto audio = results[i].audio[0][0].to(torch::kCPU, torch::kFloat32);
    mels.push_back({"generated, " + ratio + at_step, mel.mel_spectrogram(audio.unsqueeze(0))[0]});
    written.push_back(folder / ("alignment_" + stem + suffix + ".png"));
    viz::save_spectrogram_png(written.back(), results[i].attn[0][0].t().cpu(), "predicted durations, " + ratio + at_step, alignment);
    written.push_back(folder / ("audio_" + stem + suffix + ".wav"));
    audio::write_audio(written.back(), audio.clamp(-1.0, 1.0), mel.config().sampling_rate);
  }
  mels.push_back({"ground truth", mel.spec_to_mel(item.spec)});
  written.insert(written.begin(), folder / ("mel_" + stem + ".png"));
  viz::save_spectrograms_png(written.front(), mels);
  written.push_back(folder / ("mas_alignment_" + stem + ".png"));
  viz::save_spectrogram_png(written.back(), forward.attn[0][0].t().cpu(), "MAS alignment" + at_step, alignment);
  return written;
}

/// Each evaluation file to the trainer's observers (TensorBoard's images and audio, train_ms.py's
/// `gen/mel`, `gt/mel`, `all/attn` and `gen/audio`), tagged `eval/<file name without the step>`.
inline void publish_evaluation(train::Trainer& trainer, const std::vector<std::filesystem::path>& files, int64_t step) {
  static const std::regex step_digits("_[0-9]{8}");
  for (const auto& file : files) {
    train::MediaReport media;
    media.step = step;
    media.tag = "eval/" + std::regex_replace(file.stem().string(), step_digits, "");
    std::ifstream in(file, std::ios::binary);
    media.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (file.extension() == ".png") {
      // IHDR, the first chunk: width and height as big-endian 32-bit numbers at bytes 16 and 20.
      if (media.bytes.size() < 24 || media.bytes.compare(12, 4, "IHDR") != 0) continue;
      auto big_endian = [&](size_t at) {
        int64_t value = 0;
        for (size_t k = 0; k < 4; ++k) value = (value << 8) | static_cast<unsigned char>(media.bytes[at + k]);
        return value;
      };
      media.kind = train::MediaReport::Kind::png;
      media.width = big_endian(16);
      media.height = big_endian(20);
    } else if (file.extension() == ".wav") {
      const auto info = audio::audio_info(file);
      media.kind = train::MediaReport::Kind::wav;
      media.sample_rate = static_cast<double>(info.sample_rate);
      media.channels = info.channels;
      media.frames = info.frames;
    } else {
      continue;
    }
    trainer.media(media);
  }
}

/// Stops the parameters of `generator` under each prefix from training, saying how many; a prefix that
/// names no parameter is an error (a typo would otherwise train what the user meant to freeze).
inline void freeze_by_prefix(torch::nn::Module& generator, const std::vector<std::string>& prefixes, bool report, const std::string& program) {
  for (const auto& prefix : prefixes) {
    int64_t tensors = 0, values = 0;
    for (auto& item : generator.named_parameters()) {
      if (item.key().rfind(prefix, 0) != 0) continue;
      item.value().set_requires_grad(false);
      ++tensors;
      values += item.value().numel();
    }
    CHORD_CHECK(tensors > 0, "freeze prefix '", prefix, "' names no generator parameter (they start with enc_p., dec., enc_q., flow., "
                "sdp., dp., emb_g.)");
    if (report) std::cout << "[" << program << "] frozen: " << prefix << "* (" << tensors << " tensors, " << values << " values)\n";
  }
}

/// What each of the reference's filters dropped, which users otherwise lose silently.
inline void print_data_split(const systems::bert_vits2::CheckedFilelist& data, const systems::bert_vits2::DataSplit& split,
                             const systems::bert_vits2::VitsRunConfig& config, const std::vector<int64_t>& boundaries,
                             const std::string& program) {
  std::cout << "[" << program << "] " << data.path.string() << ": " << split.read << " lines; dropped " << split.unusable_audio
            << " with unusable audio, " << split.text_too_short << " with a phone field shorter than " << config.min_text_len << ", "
            << split.text_too_long << " longer than " << config.max_text_len << " characters, " << split.below_first_boundary
            << " at or below the first bucket boundary (" << boundaries.front() << "), " << split.above_last_boundary << " above the last ("
            << boundaries.back() << "); " << split.trained << " train\n";
}

/// --keep-best: the validation filelist's items, and the best generator so far (its score survives a resume).
struct BestGenerator {
  std::filesystem::path path;
  double mel = std::numeric_limits<double>::infinity();
  std::vector<systems::bert_vits2::Item> items;  ///< empty: --keep-best is off (or not the main process)
};

inline BestGenerator load_best_generator(const VitsTrainerConfig& cli, const systems::bert_vits2::VitsRunConfig& config, const std::optional<systems::bert_vits2::CheckedFilelist>& valid_data,
                                         const systems::bert_vits2::MelProcessing& mel, torch::Generator& gen, bool main_process,
                                         const std::string& program) {
  namespace bv2 = systems::bert_vits2;
  BestGenerator best{std::filesystem::path(cli.out) / "generator_best.safetensors"};
  CHORD_CHECK(!cli.keep_best || (valid_data && !valid_data->prepared.entries.empty()), "--keep-best needs a validation filelist "
              "with usable items (--valid-filelist or data.validation_files)");
  if (!cli.keep_best || !main_process) return best;
  bv2::ItemOptions item_options;
  item_options.add_blank = config.add_blank;
  for (const auto& entry : valid_data->prepared.entries) best.items.push_back(bv2::load_item(entry, config.speakers, mel, item_options, gen));
  if (std::filesystem::exists(best.path) && !cli.fresh) {
    const io::SafetensorsReader saved(best.path);
    const auto& metadata = saved.metadata();
    const auto found = metadata.find("valid_mel");
    CHORD_CHECK(found != metadata.end(), best.path.string(), " has no valid_mel entry: move it away or pass --fresh");
    const auto mel_term = parse_number<double>(found->second);
    CHORD_CHECK(mel_term.has_value() && std::isfinite(*mel_term), best.path.string(), ": valid_mel '", found->second,
                "' is not a finite number: move the file away or pass --fresh");
    best.mel = *mel_term;
    const auto saved_step = metadata.find("step");
    std::cout << "[" << program << "] --keep-best: " << best.path.string() << " holds step "
              << (saved_step != metadata.end() ? saved_step->second : "?") << " (valid mel " << found->second
              << "); a later evaluation replaces it only when lower\n";
  }
  return best;
}

/// --init: a base model's files on a fresh start (the reference's G_0/D_0/DUR_0 start, skip_optimizer);
/// a run with a complete checkpoint of its own resumes that instead.
template <class Spec>
void load_base_model(GanModel<Spec>& model, const VitsTrainerConfig& cli, bool main_process, const std::string& program) {
  namespace bv2 = systems::bert_vits2;
  if (cli.init.empty()) return;
  const auto entries = io::CheckpointManager(std::filesystem::path(cli.out) / "checkpoints").list();
  if (std::any_of(entries.begin(), entries.end(), [](const auto& e) { return io::CheckpointManager::is_complete(e.path); })) {
    if (main_process) std::cout << "[" << program << "] --init " << cli.init << " not used: the run resumes from its own checkpoints\n";
    return;
  }
  const auto loaded = bv2::load_model_files(model, cli.init, bv2::LoadModelOptions().new_speakers(true).allow_missing_members(true));
  if (main_process) std::cout << "[" << program << "] base model " << cli.init << ": " << loaded.describe() << "\n";
}

/// What happens at each evaluation step (main process): train_ms.py's evaluate() pictures and audio,
/// the reference's model files, and with --keep-best the validation score and best generator.
template <class Spec>
void evaluate_vits_step(GanModel<Spec>& model, train::Trainer& trainer, int64_t step, const systems::bert_vits2::Item& eval_item,
                        const systems::bert_vits2::MelProcessing& mel, BestGenerator& best, const VitsTrainerConfig& cli,
                        const systems::bert_vits2::VitsRunConfig& config, double lr, int64_t batch_size, c10::Device device) {
  namespace bv2 = systems::bert_vits2;
  const std::filesystem::path out = cli.out;
  const auto written = vits_evaluate(model, eval_item, mel, out / "eval", step, device);
  publish_evaluation(trainer, written, step);
  std::string paths;
  for (const auto& path : written) paths += (paths.empty() ? "" : ", ") + path.string();
  trainer.message(train::MessageLevel::info, "evaluation at step " + std::to_string(step) + ": " + paths);
  // The reference's model files (G_<step>, then one per member), for inference, exchange with the
  // reference and base-model starts; the trainer's checkpoint resumes exactly.
  const auto saved = bv2::save_model_files(model, out / "models", step,
                                           bv2::SaveModelOptions().epoch(trainer.epoch()).learning_rate(lr).keep(cli.keep_checkpoints));
  std::string files;
  for (const auto& path : saved.written) files += (files.empty() ? "" : ", ") + path.filename().string();
  trainer.message(train::MessageLevel::info, "model files at step " + std::to_string(step) + ": " + (out / "models").string() + " (" + files + ")");
  if (best.items.empty()) return;
  const auto losses = model->generator->validation_losses(best.items, batch_size, device);
  std::map<std::string, double> scalars;
  for (const auto& [name, value] : losses) scalars["valid/" + name] = value;
  trainer.report(step, scalars);
  const double mel_term = losses.at("mel");
  const auto count = best.items.size();
  std::string line = "validation at step " + std::to_string(step) + " (" + std::to_string(count) +
                     (count == 1 ? " utterance" : " utterances") + "): mel " + std::to_string(mel_term) + ", kl " +
                     std::to_string(losses.at("kl")) + ", duration " + std::to_string(losses.at("duration"));
  if (mel_term < best.mel) {
    best.mel = mel_term;
    io::save_safetensors(best.path, io::state_dict(*model->generator),
                         {{"step", std::to_string(step)}, {"valid_mel", c10::str(std::setprecision(17), mel_term)},
                          {"spec", std::string(Spec::name)}, {"preset", config.preset}});
    line += "; best so far: " + best.path.string();
  }
  trainer.message(train::MessageLevel::info, line);
}

/// The exports and the summary of a finished (or interrupted) run, on the main process.
template <class Spec>
void finish_vits_run(GanModel<Spec>& model, const train::TrainResult& result, const systems::bert_vits2::VitsRunConfig& config, systems::bert_vits2::SkippedItems& skipped,
                     const std::filesystem::path& out, const std::string& program) {
  // The generator alone, with the reference's G_<step> keys (enc_p.*, dec.*, ...).
  io::save_safetensors(out / "generator.safetensors", io::state_dict(*model->generator),
                       {{"step", std::to_string(result.step)}, {"spec", std::string(Spec::name)}, {"preset", config.preset}});
  const bool plotted = viz::save_training_curves_png(out / "log.jsonl", out / "loss.png", {"G/mel", "G/kl", "G/duration", "D/loss"},
                                                     {.title = program + " losses", .y_label = "loss"});
  {
    std::lock_guard<std::mutex> lock(skipped.mutex);
    if (!skipped.messages.empty()) {
      std::cerr << "[" << program << "] warning: " << skipped.messages.size() << " item load(s) failed and were skipped; the first: "
                << skipped.messages.front() << "\n";
    }
  }
  report_run_end(program, train::to_string(result.reason), result.step,
                 {{"generator", (out / "generator.safetensors").string()},
                  {"checkpoint", result.checkpoint ? result.checkpoint->string() : std::string("none")},
                  {"model files", (out / "models").string() + " (G_<step>, then each discriminator's)"},
                  {"evaluation", (out / "eval").string()},
                  {"loss curve", plotted ? (out / "loss.png").string() : "none yet (no update logged)"},
                  {"logs", (out / "log.jsonl").string() + ", " + (out / "tensorboard").string()}},
                 result.reason == train::StopReason::interrupted);
}

/// Trains `Spec` on the checked data and exports the run; returns the exit status.
template <class Spec>
int train_vits(const VitsTrainerConfig& cli, systems::bert_vits2::VitsRunConfig config, const systems::bert_vits2::CheckedFilelist& train_data, const std::optional<systems::bert_vits2::CheckedFilelist>& valid_data,
               const TrainingProcesses& processes, const std::string& program) {
  namespace bv2 = systems::bert_vits2;
  const auto device = processes.device();
  const bool main_process = processes.is_main();
  const std::filesystem::path out = cli.out;
  const double lr = cli.lr.value_or(config.learning_rate);
  const int64_t batch_size = cli.batch_size.value_or(config.batch_size);
  const int64_t validate_every = cli.validate_every.value_or(config.eval_interval);
  const int64_t seed = cli.seed.value_or(config.seed);

  const auto boundaries = parse_boundaries(cli.boundaries);
  auto batches = bv2::training_batches(config, train_data, batch_size, seed, boundaries, out / "spectrogram_cache", processes.world_size(),
                                       processes.rank());
  if (main_process) print_data_split(train_data, bv2::data_split(train_data, batches), config, boundaries, program);
  const bv2::MelProcessing& mel = batches.dataset->processing();
  // The evaluation utterance: the validation filelist's first (in the reference's order), else training's.
  const auto& eval_entries = valid_data && !valid_data->prepared.entries.empty() ? valid_data->prepared : train_data.prepared;
  auto eval_gen = make_generator(static_cast<uint64_t>(seed));
  bv2::ItemOptions item_options;
  item_options.add_blank = config.add_blank;
  const auto eval_item = bv2::load_item(eval_entries.entries.front(), config.speakers, mel, item_options, eval_gen);
  auto best = load_best_generator(cli, config, valid_data, mel, eval_gen, main_process, program);

  // The model, seeded as train_ms.py seeds (torch.manual_seed(hps.train.seed)).
  torch::manual_seed(static_cast<uint64_t>(seed));
  GanModel<Spec> model(vits_model_options<Spec>(config, cli, lr));
  load_base_model(model, cli, main_process, program);
  int64_t generator_parameters = 0, all_parameters = 0;
  for (const auto& p : model->generator->parameters()) generator_parameters += p.numel();
  for (const auto& p : model->parameters()) all_parameters += p.numel();

  train::TrainerOptions trainer_options;
  trainer_options.max_steps = cli.steps;
  trainer_options.log_every = cli.log_every.value_or(config.log_interval);
  trainer_options.checkpoint_every = cli.checkpoint_every.value_or(validate_every);
  trainer_options.keep_checkpoints = static_cast<int>(cli.keep_checkpoints);
  trainer_options.checkpoint_dir = out / "checkpoints";
  trainer_options.seed = static_cast<uint64_t>(seed);
  processes.configure(trainer_options, systems::bert_vits2::vits_config_to_json(config).dump() + " " + std::string(Spec::name) + " steps " +
                                           std::to_string(cli.steps) + " lr " + std::to_string(lr) + " batch " + std::to_string(batch_size) +
                                           (cli.fused_adamw ? " fused-adamw" : ""));
  trainer_options.find_unused_parameters = true;  // a loss need not reach every parameter of its optimiser (a member switched off)
  const bool bf16 = cli.bf16 || config.bf16_run;
  if (bf16) {  // train_ms.py: GradScaler(enabled=bf16_run), one for all four optimisers
    trainer_options.autocast_dtype = torch::kBFloat16;
    trainer_options.grad_scaler = train::GradScalerOptions{};
  }
  trainer_options.log_grad_norms = true;  // grad_norm_d / grad_norm_g are logged in fp32 runs too
  trainer_options.fused_adamw = cli.fused_adamw;
  train::Trainer trainer(trainer_options);
  freeze_by_prefix(*model->generator, config.freeze, main_process, program);
  std::vector<torch::Tensor> generator_trainable;
  for (const auto& p : model->generator->parameters()) {
    if (p.requires_grad()) generator_trainable.push_back(p);
  }
  auto generator_optimizer = std::make_shared<torch::optim::AdamW>(
      generator_trainable,
      torch::optim::AdamWOptions(lr).betas({config.betas[0], config.betas[1]}).eps(config.eps).weight_decay(0.01));
  // The reference clips only under bf16: the multi-period discriminator at 200, the generator at 500.
  const std::map<std::string, double> max_grad_norms = bf16 ? std::map<std::string, double>{{"D", 200.0}, {"G", 500.0}}
                                                            : std::map<std::string, double>{};
  train::add_gan(trainer, model, generator_optimizer, train::exponential_per_epoch(lr, config.lr_decay), max_grad_norms);
  processes.add_observers(trainer, out, program, !cli.fresh);
  trainer.set_after_update([&](int64_t step) {
    if ((step % validate_every != 0 && step != cli.steps) || !main_process) return;
    evaluate_vits_step(model, trainer, step, eval_item, mel, best, cli, config, lr, batch_size, device);
  });

  if (main_process) std::cout << "[" << program << "] " << Spec::name << ", preset " << config.preset << ", generator "
            << generator_parameters / 1e6 << " M parameters (" << all_parameters / 1e6 << " M with the discriminators), "
            << config.synthesizer.n_speakers() << " speaker(s), " << batches.dataset->size() << " utterances in " << batches.sampler->size()
            << " batches of " << batch_size << " per epoch, lr " << lr << "\n";
  auto result = trainer.fit<bv2::Batch>(batches.source, [&](const bv2::Batch& batch, train::StepContext& context) {
    return train::gan_step(model, batch, context);  // the trainer has placed the batch (Batch::to)
  });
  if (main_process) finish_vits_run(model, result, config, *batches.skipped, out, program);
  return result.reason == train::StopReason::nonfinite ? 1 : 0;
}

/// Lists unusable items; stops unless --skip-bad-items.
inline void report_bad_items(const systems::bert_vits2::CheckedFilelist& data, bool skip, const std::string& flag, const std::string& program) {
  if (data.bad.empty()) return;
  std::cerr << "[" << program << "] " << data.bad.size() << " item(s) of " << flag << " '" << data.path.string() << "' are unusable:\n";
  for (const auto& line : data.bad) std::cerr << "  " << line << "\n";
  CHORD_CHECK(skip, data.bad.size(), " unusable item(s) in ", flag, "; fix them or pass --skip-bad-items to train without them");
  std::cerr << "[" << program << "] --skip-bad-items: continuing without them\n";
}

/// Everything checked before the model is built: the config, the filelists, the output folder.
inline int run_vits_training(VitsTrainerConfig cli, const std::string& program) {
  CHORD_CHECK(!cli.config.empty() || !cli.preset.empty(), "give --config <config.json> (Bert-VITS2's format) or --preset tiny|v2.3");
  systems::bert_vits2::VitsRunConfig config;
  if (!cli.config.empty()) {
    require_input_file(cli.config, "--config");
    config = systems::bert_vits2::read_vits_config(cli.config, cli.preset.empty() ? "v2.3" : cli.preset);
  } else {
    config = systems::bert_vits2::VitsRunConfig::from_preset(cli.preset);
  }
  for (const auto& key : config.ignored) std::cerr << "[" << program << "] note: config " << key << " has no effect in chord\n";
  if (cli.filelist.empty()) cli.filelist = config.training_files;
  if (cli.valid_filelist.empty()) cli.valid_filelist = config.validation_files;
  require_input_file(cli.filelist, "--filelist");
  if (!cli.valid_filelist.empty()) require_input_file(cli.valid_filelist, "--valid-filelist");
  if (!cli.no_wavlm) {
    cli.wavlm_weights = published_path_or_value(cli.wavlm_weights, "--wavlm-weights", "weights", program);
    CHORD_CHECK(!cli.wavlm_weights.empty(), "--wavlm-weights <wavlm-base-plus.safetensors> is required for the WavLM discriminator "
                "(or pass --no-wavlm to train without it, as Bert-VITS2 did before 2.3)");
    require_input_file(cli.wavlm_weights, "--wavlm-weights");
  }
  CHORD_CHECK(config.use_duration_discriminator || cli.no_wavlm, "config model.use_duration_discriminator = false needs --no-wavlm: "
              "chord's specs without the duration discriminator have the multi-period discriminator alone");
  (void)parse_boundaries(cli.boundaries);
  const std::filesystem::path out = cli.out;
  require_output_folder(out, "--out");
  const TrainingProcesses processes(cli.device, program);  // joins a torchrun job before any long work

  if (config.speakers.empty()) {
    std::vector<std::filesystem::path> lists{cli.filelist};
    if (!cli.valid_filelist.empty()) lists.push_back(cli.valid_filelist);
    config.speakers = systems::bert_vits2::speakers_of(lists);
    config.synthesizer.n_speakers(std::max<int64_t>(static_cast<int64_t>(config.speakers.size()), 1));
  }
  config.training_files = std::filesystem::absolute(cli.filelist).string();
  config.validation_files = cli.valid_filelist.empty() ? "" : std::filesystem::absolute(cli.valid_filelist).string();
  auto train_data = systems::bert_vits2::read_checked_filelist(cli.filelist, config, config.speakers, program);
  report_bad_items(train_data, cli.skip_bad_items, "--filelist", program);
  std::optional<systems::bert_vits2::CheckedFilelist> valid_data;
  if (!cli.valid_filelist.empty()) {
    valid_data = systems::bert_vits2::read_checked_filelist(cli.valid_filelist, config, config.speakers, program);
    report_bad_items(*valid_data, cli.skip_bad_items, "--valid-filelist", program);
  }
  CHORD_CHECK(!train_data.prepared.entries.empty(), "--filelist '", cli.filelist, "' has no usable item");

  if (cli.seed) config.seed = *cli.seed;
  config.freeze.insert(config.freeze.end(), cli.freeze.begin(), cli.freeze.end());
  if (processes.is_main()) {
    if (cli.fresh) {
      std::filesystem::remove_all(out / "checkpoints");
      std::filesystem::remove_all(out / "models");  // older steps would outrank the new run's in the keep budget
    }
    for (const auto& [folder, names] : {std::pair{out / "models", std::string("[A-Z]+_[0-9]+\\.safetensors")},
                                        std::pair{out, std::string("generator(_best)?\\.safetensors")}}) {
      if (const auto stale = io::remove_stale_temporaries(folder, names).describe(); !stale.empty()) std::cout << "[" << program << "] " << stale << "\n";
    }
    std::ofstream(out / "config.json") << systems::bert_vits2::vits_config_to_json(config).dump(2) << "\n";
  }
  processes.barrier();  // no rank looks for checkpoints before --fresh removed them

  if (!config.use_duration_discriminator) return train_vits<systems::BertVits2MultiPeriodOnly>(cli, config, train_data, valid_data, processes, program);
  if (cli.no_wavlm) return train_vits<systems::BertVits2NoWavLM>(cli, config, train_data, valid_data, processes, program);
  return train_vits<systems::BertVits2>(cli, config, train_data, valid_data, processes, program);
}
}  // namespace detail

/// `main` of chord-vits-train.
inline int run_vits_trainer(int argc, char** argv, const std::string& program) {
  VitsTrainerConfig cli;
  CLI::App app{"Train Bert-VITS2 (" + program + ") on cleaned filelists (wav|speaker|language|text|phones|tones|word2ph), from a "
               "Bert-VITS2 config.json or a preset. Run it again to resume."};
  add_vits_trainer_options(app, cli);
  CLI11_PARSE(app, argc, argv);
  try {
    keep_freed_tensor_memory();
    return detail::run_vits_training(cli, program);
  } catch (const std::exception& error) {
    return report_error(program, error);
  }
}

}  // namespace chord::apps
