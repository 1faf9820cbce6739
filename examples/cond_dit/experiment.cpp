// chord-cond-dit-experiment: the seed-003 question answered with numbers. A DiT is pre-trained
// unconditionally on 64×64 log-mel tiles (256 tokens), then fine-tuned with the 32×32 downsampled
// tile prepended as 64 condition tokens (320 tokens), once per sequence-length strategy, with the
// same data order, seeds and budget. Reported per strategy: the conditional validation loss right
// after the switch (before any conditional update), after the fine-tuning steps, the L1 of samples
// against the real tiles, and the wall time; plus validation curves and sample pictures.
#include <chord/apps/cli.hpp>
#include <chord/apps/manifest_check.hpp>
#include <chord/apps/training_processes.hpp>
#include <chord/core/allocator.hpp>
#include <chord/systems/cond_dit.hpp>
#include <chord/train/trainer.hpp>
#include <chord/viz/plots.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>

#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace {

namespace cd = chord::systems::cond_dit;
using Batch = chord::cond::PrependedTokens::Batch;

struct Config {
  std::string manifest, valid_manifest, out = "out/cond_dit";
  std::string preset = "small";
  int64_t pretrain_steps = 400, finetune_steps = 200, batch = 16, eval_every = 25, sample_steps = 16;
  double lr = 1e-3, finetune_lr = 2e-4, dummy_probability = 0.15;
  int64_t warmup = 50;
  int64_t seed = 0;
  bool skip_bad_items = false;
  bool fused_adamw = false;
  std::string device = "auto";
  std::vector<std::string> arms{"native", "dummy", "fixed", "two_stage", "relative", "dummy+two_stage"};
};

struct ArmResult {
  std::string name, policy;
  double switch_loss = 0.0, final_loss = 0.0, unconditional_loss = 0.0, sample_l1 = 0.0;
  double pretrain_seconds = 0.0, finetune_seconds = 0.0;
  chord::viz::Series curve;
};

struct Data {
  cd::TileSet train, valid;
  Batch valid_batch;  // conditional, every validation tile
};

/// The update index validation claims: after every stage, so a two-stage policy keeps the condition
/// and a dummy-condition policy (limited to pre-training) adds none.
constexpr int64_t kAfterAllStages = int64_t{1} << 40;

/// Mean conditional (or unconditional) loss over the validation tiles, averaged over 4 fixed draws of
/// noise and time.
template <class Model>
double validation_loss(Model& model, const Data& data, bool conditional) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  auto batch = data.valid_batch;
  if (!conditional) batch.condition = torch::Tensor();
  auto gen = chord::make_generator(12345, model->device());
  double total = 0.0;
  for (int draw = 0; draw < 4; ++draw) total += model->loss(batch, gen, kAfterAllStages).loss.template item<double>();
  model->train(was_training);
  return total / 4.0;
}

template <class Spec>
ArmResult run_arm(const std::string& name, const Config& cfg, const Data& data, const chord::apps::TrainingProcesses& processes,
                  const std::function<void(chord::FlowModelOptions<Spec>&)>& configure) {
  using Model = chord::FlowModel<Spec>;
  chord::FlowModelOptions<Spec> options(cd::preset_options(cd::parse_preset(cfg.preset)));
  configure(options);
  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  Model model(options);
  int64_t parameters = 0;
  for (const auto& p : model->parameters()) parameters += p.numel();
  if (processes.is_main()) std::cout << "[cond-dit] " << name << " (" << Spec::sequence::name << "): " << parameters << " parameters\n";
  const auto out = std::filesystem::path(cfg.out) / name;
  if (processes.is_main()) {
    std::filesystem::remove_all(out);
    std::filesystem::create_directories(out);
  }
  processes.barrier();

  const int64_t total = cfg.pretrain_steps + cfg.finetune_steps;
  const int64_t patch = options.backbone.patch();
  const auto tiles = data.train.size();
  // One epoch of `total` batches; batch i depends only on (seed, i), and on i < pretrain_steps for
  // whether it carries its condition: every arm sees the same tiles in the same order. W processes
  // take W global batches per update (rank r the r-th), so the epoch holds W·total.
  const auto world = static_cast<size_t>(processes.world_size());
  chord::train::BatchSource<Batch> source{
      [total, world](int64_t) { return static_cast<size_t>(total) * world; },
      [&, patch, tiles, world](int64_t, size_t index) {
        auto gen = chord::make_generator(static_cast<uint64_t>(cfg.seed) * 1000003 + index);
        auto indices = torch::randint(0, tiles, {cfg.batch}, gen, torch::kLong);
        const auto update = static_cast<int64_t>(index / world);
        return cd::make_batch(data.train, indices, patch, update >= cfg.pretrain_steps);
      }};

  chord::train::TrainerOptions trainer_options;
  trainer_options.max_steps = total;
  trainer_options.log_every = 25;
  trainer_options.seed = static_cast<uint64_t>(cfg.seed);
  trainer_options.handle_signals = true;
  trainer_options.fused_adamw = cfg.fused_adamw;
  // Pre-training batches carry no condition, so the condition path's parameters get no gradient in
  // those updates: under torchrun the reducer must look for unused parameters (DDP's option).
  trainer_options.find_unused_parameters = true;
  processes.configure(trainer_options, name + " " + cfg.preset + " " + std::to_string(cfg.pretrain_steps) + "+" +
                                           std::to_string(cfg.finetune_steps) + " batch " + std::to_string(cfg.batch) + " lr " +
                                           std::to_string(cfg.lr) + " seed " + std::to_string(cfg.seed) +
                                           (cfg.fused_adamw ? " fused-adamw" : ""));
  chord::train::Trainer trainer(trainer_options);
  trainer.add_module("model", model.ptr());
  auto optimizer = std::make_shared<torch::optim::AdamW>(model->parameters(), torch::optim::AdamWOptions(cfg.lr).weight_decay(0.0));
  const double lr = cfg.lr;
  const int64_t warmup = cfg.warmup;
  trainer.add_optimizer("model", optimizer, [model, lr, warmup](int64_t step, int64_t) {
    const double base = lr * std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(warmup));
    return model->learning_rate(step, base);
  }, 1.0);
  if (processes.is_main()) {
    trainer.add_observer(std::make_shared<chord::train::ConsoleProgress>(std::cerr, "cond-dit " + name));
    trainer.add_observer(std::make_shared<chord::train::JsonlLogger>(out / "log.jsonl", false));
  }
  if (processes.world_size() > 1) trainer.add_observer(std::make_shared<chord::train::RankLog>(out / "logs", processes.rank(), "cond-dit " + name));

  ArmResult result;
  result.name = name;
  result.policy = std::string(Spec::sequence::name);
  result.curve.name = name;
  const auto start = std::chrono::steady_clock::now();
  auto seconds_since_start = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  double eval_seconds = 0.0;
  trainer.set_after_update([&](int64_t step) {
    if (step < cfg.pretrain_steps || !processes.is_main()) return;
    const int64_t finetuned = step - cfg.pretrain_steps;
    if (finetuned % cfg.eval_every != 0 && step != total) return;
    const auto eval_start = seconds_since_start();
    const double loss = validation_loss(model, data, true);
    if (finetuned == 0) {
      result.switch_loss = loss;
      result.unconditional_loss = validation_loss(model, data, false);
      result.pretrain_seconds = eval_start - eval_seconds;
    }
    result.curve.x.push_back(static_cast<double>(finetuned));
    result.curve.y.push_back(loss);
    trainer.report(step, {{"valid/conditional_loss", loss}});
    eval_seconds += seconds_since_start() - eval_start;
  });
  trainer.fit<Batch>(source, [&](const Batch& batch, chord::train::StepContext& context) {
    auto losses = model->loss(batch, context.generator(), context.step());
    context.backward("model", losses.loss);
    return chord::train::Trainer::Scalars{{"loss", losses.loss}};
  });
  if (!processes.is_main()) return result;  // rank 0 evaluates, samples and draws
  result.final_loss = result.curve.y.back();
  result.finetune_seconds = seconds_since_start() - eval_seconds - result.pretrain_seconds;

  // Samples for the first validation conditions, and their L1 against the real tiles.
  typename Model::Request request;
  const int64_t shown = std::min<int64_t>(16, data.valid_batch.target.size(0));
  request.condition = data.valid_batch.condition.narrow(0, 0, shown);
  request.tokens = data.valid_batch.target.size(1);
  typename Model::SampleOptions sample_options;
  sample_options.sampler.steps = cfg.sample_steps;
  auto gen = chord::make_generator(777, model->device());
  auto samples = model->sample(request, sample_options, gen).output.cpu();
  auto truth = data.valid_batch.target.narrow(0, 0, shown);
  result.sample_l1 = (samples - truth).abs().mean().template item<double>();
  const auto& b = options.backbone;
  auto image = [&](const torch::Tensor& tokens, int64_t rows, int64_t cols) {
    return chord::nn::unpatchify(tokens.unsqueeze(0), rows, cols, patch, b.channels())[0][0];
  };
  std::vector<chord::viz::SpectrogramPanel> panels;
  for (int64_t i = 0; i < std::min<int64_t>(2, shown); ++i) {
    auto condition = image(request.condition[i], b.condition_rows(), b.condition_cols());
    auto up = condition.repeat_interleave(2, 0).repeat_interleave(2, 1);
    panels.push_back({"tile " + std::to_string(i) + " condition", up});
    panels.push_back({"tile " + std::to_string(i) + " real", image(truth[i], b.target_rows(), b.target_cols())});
    panels.push_back({"tile " + std::to_string(i) + " sample", image(samples[i], b.target_rows(), b.target_cols())});
  }
  chord::viz::SpectrogramOptions picture;
  picture.pixels_per_frame = 6;  // titles need the width
  picture.pixels_per_bin = 2;
  chord::viz::save_spectrograms_png(out / "samples.png", panels, picture);
  std::cout << "[cond-dit] " << name << ": loss at the switch " << result.switch_loss << ", after "
            << cfg.finetune_steps << " fine-tuning steps " << result.final_loss << ", samples: " << (out / "samples.png").string() << "\n";
  return result;
}

std::string fixed(double value, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << value;
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"Pre-train a DiT unconditionally on log-mel tiles, fine-tune it with prepended condition tokens under each "
               "sequence-length strategy, and compare (seed 003)."};
  chord::apps::take_last_of_repeated_options(app);
  app.add_option("--manifest", cfg.manifest, "Training manifest (JSONL)")->required();
  app.add_option("--valid-manifest", cfg.valid_manifest, "Held-out manifest")->required();
  app.add_option("--out", cfg.out, "Output folder")->capture_default_str();
  app.add_option("--preset", cfg.preset, "tiny, small, seed")->capture_default_str();
  app.add_option("--pretrain-steps", cfg.pretrain_steps, "Unconditional updates")->check(CLI::Range(int64_t{1}, int64_t{10000000}))->capture_default_str();
  app.add_option("--finetune-steps", cfg.finetune_steps, "Conditional updates")->check(CLI::Range(int64_t{1}, int64_t{10000000}))->capture_default_str();
  app.add_option("--batch-size,--batch", cfg.batch, "Tiles per update")->check(CLI::Range(int64_t{1}, int64_t{100000}))->capture_default_str();
  app.add_option("--lr", cfg.lr, "Learning rate (after a linear warm-up)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--warmup", cfg.warmup, "Warm-up updates")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--finetune-lr", cfg.finetune_lr, "The two-stage policy's fine-tuning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--dummy-probability", cfg.dummy_probability, "The dummy-condition policy's p")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--eval-every", cfg.eval_every, "Fine-tuning updates between validation losses")->check(CLI::Range(int64_t{1}, int64_t{10000000}))->capture_default_str();
  chord::apps::add_nfe_option(app, cfg.sample_steps, "Sampler steps for the pictures and the sample L1", ",--sample-steps");
  chord::apps::add_seed_option(app, cfg.seed, /*allow_random=*/false);
  app.add_option("--arms", cfg.arms, "Strategies to run")->delimiter(',')->capture_default_str();
  chord::apps::add_skip_bad_items_flag(app, cfg.skip_bad_items);
  chord::apps::add_fused_adamw_flag(app, cfg.fused_adamw);
  chord::apps::add_device_option(app, cfg.device);
  CLI11_PARSE(app, argc, argv);

  try {
    chord::keep_freed_tensor_memory();
    chord::apps::require_output_folder(cfg.out, "--out");
    const std::string program = "cond-dit";
    const chord::apps::TrainingProcesses processes(cfg.device, program);  // joins a torchrun job before any long work
    const auto train_manifest = chord::apps::read_checked_manifest(cfg.manifest, "--manifest", {}, cfg.skip_bad_items, program);
    const auto valid_manifest = chord::apps::read_checked_manifest(cfg.valid_manifest, "--valid-manifest", {}, cfg.skip_bad_items, program);
    Data data;
    auto progress = [](const char* what) {
      return [what](size_t done, size_t total) {
        if (done == total || done % 50 == 0) std::cerr << "[cond-dit] " << what << " tiles: " << done << "/" << total << " utterances\n";
      };
    };
    data.train = cd::make_mel_tiles(train_manifest, {}, nullptr, progress("training"));
    data.valid = cd::make_mel_tiles(valid_manifest, {}, &data.train, progress("validation"));
    const auto valid_count = std::min<int64_t>(64, data.valid.size());
    const int64_t patch = cd::preset_options(cd::parse_preset(cfg.preset)).patch();
    data.valid_batch = cd::make_batch(data.valid, torch::arange(valid_count), patch, true);
    if (processes.is_main()) std::cout << "[cond-dit] " << data.train.size() << " training tiles, " << valid_count << " validation tiles (64x64 log-mel, "
              << "mean " << data.train.mean << ", std " << data.train.std << ")\n";

    const int64_t switch_step = cfg.pretrain_steps;
    const double finetune_lr = cfg.finetune_lr, p = cfg.dummy_probability;
    std::vector<ArmResult> results;
    for (const auto& arm : cfg.arms) {
      using namespace chord::systems;
      if (arm == "native") {
        results.push_back(run_arm<CondDiT>(arm, cfg, data, processes, [](auto&) {}));
      } else if (arm == "dummy") {
        results.push_back(run_arm<CondDiTDummyCondition>(arm, cfg, data, processes, [&](auto& o) {
          o.sequence.probability = p;
          o.sequence.until_step = switch_step;  // the seed: dummies during pre-training only
        }));
      } else if (arm == "fixed") {
        results.push_back(run_arm<CondDiTFixedLength>(arm, cfg, data, processes, [](auto& o) { o.sequence.length = 64; }));
      } else if (arm == "two_stage") {
        results.push_back(run_arm<CondDiTTwoStage>(arm, cfg, data, processes, [&](auto& o) {
          o.sequence.switch_step = switch_step;
          o.sequence.finetune_lr = finetune_lr;
        }));
      } else if (arm == "relative") {
        results.push_back(run_arm<CondDiTRelative>(arm, cfg, data, processes, [](auto&) {}));
      } else if (arm == "dummy+two_stage") {
        results.push_back(run_arm<CondDiTRecommended>(arm, cfg, data, processes, [&](auto& o) {
          o.sequence.template get<0>().switch_step = switch_step;
          o.sequence.template get<0>().finetune_lr = finetune_lr;
          o.sequence.template get<1>().probability = p;
          o.sequence.template get<1>().until_step = switch_step;
        }));
      } else {
        CHORD_FAIL("unknown arm '", arm, "' (native, dummy, fixed, two_stage, relative, dummy+two_stage)");
      }
    }

    if (!processes.is_main()) return 0;
    std::ostringstream table;
    table << "Preset " << cfg.preset << ", " << cfg.pretrain_steps << " unconditional + " << cfg.finetune_steps
          << " conditional updates of " << cfg.batch << " tiles, lr " << cfg.lr << " (two-stage fine-tuning: " << cfg.finetune_lr
          << "), dummy p " << cfg.dummy_probability << ", seed " << cfg.seed << ". Losses: clean-target MSE on "
          << valid_count << " held-out tiles (normalised log-mel), conditional unless noted.\n\n"
          << "| strategy | sequence policy | unconditional loss at the switch | conditional loss at the switch | after "
          << cfg.finetune_steps << " steps | sample L1 (" << cfg.sample_steps << " steps) | pre-training s | fine-tuning s |\n"
          << "|---|---|---|---|---|---|---|---|\n";
    nlohmann::json json = nlohmann::json::array();
    for (const auto& r : results) {
      table << "| " << r.name << " | `" << r.policy << "` | " << fixed(r.unconditional_loss, 4) << " | " << fixed(r.switch_loss, 4)
            << " | " << fixed(r.final_loss, 4) << " | " << fixed(r.sample_l1, 4) << " | " << fixed(r.pretrain_seconds, 1) << " | "
            << fixed(r.finetune_seconds, 1) << " |\n";
      json.push_back({{"strategy", r.name}, {"policy", r.policy}, {"unconditional_loss_at_switch", r.unconditional_loss},
                      {"conditional_loss_at_switch", r.switch_loss}, {"conditional_loss_final", r.final_loss},
                      {"sample_l1", r.sample_l1}, {"pretrain_seconds", r.pretrain_seconds},
                      {"finetune_seconds", r.finetune_seconds}, {"curve_steps", r.curve.x}, {"curve_loss", r.curve.y}});
    }
    std::vector<chord::viz::Series> curves;
    for (const auto& r : results) curves.push_back(r.curve);
    const auto out = std::filesystem::path(cfg.out);
    chord::viz::save_curves_png(out / "finetune_curves.png", curves,
                                {.title = "conditional validation loss during fine-tuning", .x_label = "fine-tuning step",
                                 .y_label = "loss", .log_y = false});
    std::ofstream(out / "results.md") << table.str();
    std::ofstream(out / "results.json") << json.dump(2) << "\n";
    std::cout << "\n" << table.str() << "\n[cond-dit] table: " << (out / "results.md").string()
              << "\n[cond-dit] curves: " << (out / "finetune_curves.png").string() << "\n";
    return 0;
  } catch (const std::exception& error) {
    return chord::apps::report_error("chord-cond-dit-experiment", error);
  }
}
