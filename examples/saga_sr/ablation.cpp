// chord-saga-sr-ablation: the seed's SAGA-SR ablation plan (seed 001, steps 0–3) and the official
// configuration, each a spec struct, trained for the same budget on the same data and evaluated on the
// same held-out clips. Writes a table of final loss / LSD / SI-SDR (results.md, results.json), the
// low-resolution input as the floor, WAVs, and one spectrogram picture comparing every step.
//
// Step 2′ is step 2's trained model with the cross-faded low-frequency replacement: the seed defines it
// as a post-processing change, so it is evaluated, not trained again.
#include <chord/apps/cli.hpp>
#include <chord/apps/manifest_check.hpp>
#include <chord/core/allocator.hpp>
#include <chord/systems/saga_sr.hpp>

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <set>
#include <sstream>

namespace {

using namespace chord;
namespace saga = systems::saga_sr;

struct Row {
  std::string step, conditions, guidance, lfr;
  double final_loss = 0.0, lsd = 0.0, si_sdr = 0.0;
  int64_t steps = 0;
  double train_seconds = 0.0;
};

struct EvalClip {
  std::string name, caption;
  torch::Tensor high, low;
  double output_rolloff = 1.0;
};

template <class Spec>
std::string conditions_of() {
  using C = typename Spec::conditioning;
  std::string s = "LR latent";
  if (C::uses_seconds) s += ", seconds";
  if (C::uses_text) s += ", text";
  if (C::uses_rolloff) s += ", roll-offs";
  if (C::uses_rolloff_fourier) s += ", roll-offs (seed's conditioner)";
  return s;
}

const char* lfr_name(systems::LowFrequencyReplacement mode) {
  switch (mode) {
    case systems::LowFrequencyReplacement::off: return "off";
    case systems::LowFrequencyReplacement::hard: return "hard";
    case systems::LowFrequencyReplacement::cross_fade: return "cross-fade";
  }
  return "?";
}

/// Evaluates a trained run on the clips with `mode`; saves WAVs under `folder`, returns mean metrics and clip 0's output.
template <class Spec>
std::pair<saga::SrMetrics, torch::Tensor> evaluate(saga::SrRun<Spec>& run, const std::vector<EvalClip>& clips,
                                                   systems::LowFrequencyReplacement mode, int64_t steps,
                                                   const std::filesystem::path& folder, const std::string& label) {
  std::filesystem::create_directories(folder);
  saga::SrMetrics mean;
  torch::Tensor first;
  for (size_t i = 0; i < clips.size(); ++i) {
    saga::EnhanceOptions o;
    o.steps = steps;
    o.low_frequency_replacement = mode;
    o.output_rolloff = clips[i].output_rolloff;
    o.caption = clips[i].caption;
    o.seed = 1000 + i;
    o.window_frames = 0;  // the ablation's protocol: each evaluation clip as one sequence
    auto enhanced = saga::enhance(run, clips[i].low, o);
    audio::write_audio(folder / (clips[i].name + ".wav"), enhanced[0], saga::kSuperResolutionRate);
    const auto m = saga::sr_metrics(enhanced, clips[i].high);
    mean.lsd += m.lsd / static_cast<double>(clips.size());
    mean.si_sdr += m.si_sdr / static_cast<double>(clips.size());
    if (i == 0) first = enhanced;
    std::cerr << "\r[" << label << "] evaluated " << i + 1 << "/" << clips.size() << std::flush;
  }
  std::cerr << "\n";
  return {mean, first};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Run the seed's SAGA-SR ablation (steps 0, 1, 2, 2', 3) and the official configuration for one budget "
               "on a corpus made by chord-make-sr-corpus, and tabulate LSD / SI-SDR / final loss."};
  std::filesystem::path corpus = "out/sr_corpus", out = "out/saga_sr_ablation";
  saga::SrConfig base;
  base.steps = 400;
  base.log_every = 20;
  base.checkpoint_every = 0;
  int64_t eval_clips = 8, sample_steps = 32;
  double eval_seconds = 2.0;
  std::string output_rolloff = "measured", only;
  apps::take_last_of_repeated_options(app);
  app.add_option("--corpus", corpus, "Folder with manifest_train.jsonl / manifest_valid.jsonl")->capture_default_str();
  app.add_option("--out", out, "Output folder")->capture_default_str();
  app.add_option("--steps", base.steps, "Training updates per configuration (the shared budget)")->capture_default_str();
  app.add_option("--batch-size", base.batch_size, "Crops per update")->capture_default_str();
  app.add_option("--preset", base.preset, "DiT size: tiny, small, full")->capture_default_str();
  app.add_option("--patch", base.patch, "Samples per latent frame (waveform patching)")->capture_default_str();
  app.add_option("--lr", base.lr, "AdamW learning rate")->capture_default_str();
  app.add_option("--segment-seconds", base.segment_seconds, "Training crop length")->capture_default_str();
  app.add_option("--seed", base.seed, "Seed of every draw (the same for every configuration)")->capture_default_str();
  app.add_option("--eval-clips", eval_clips, "Held-out clips evaluated")->check(CLI::Range(int64_t{1}, int64_t{100000}))->capture_default_str();
  app.add_option("--eval-seconds", eval_seconds, "Seconds of each held-out clip")->check(CLI::PositiveNumber)->capture_default_str();
  apps::add_nfe_option(app, sample_steps, "Euler steps at evaluation", ",--sample-steps");
  app.add_option("--output-rolloff", output_rolloff,
                 "Target roll-off at evaluation: 'measured' (the reference clip's, an oracle brightness) or a number (official eval: 1.0)")
      ->capture_default_str();
  app.add_option("--only", only, "Comma-separated subset of step0,step1,step2,step3,official");
  apps::add_skip_bad_items_flag(app, base.skip_bad_items);
  apps::add_device_option(app, base.device);
  CLI11_PARSE(app, argc, argv);

  try {
    keep_freed_tensor_memory();
    base.check();
    base.manifest = (corpus / "manifest_train.jsonl").string();
    apps::require_input_file(corpus / "manifest_train.jsonl", "--corpus");
    apps::require_input_file(corpus / "manifest_valid.jsonl", "--corpus");
    apps::require_output_folder(out, "--out");
    CHORD_CHECK(output_rolloff == "measured" || (!output_rolloff.empty() && output_rolloff.find_first_not_of("0123456789.") == std::string::npos &&
                                                 std::strtod(output_rolloff.c_str(), nullptr) <= 1.0),
                "--output-rolloff must be 'measured' or a number in [0, 1], got '", output_rolloff, "'");
    std::set<std::string> selected;
    for (std::stringstream list(only); list.good();) {
      std::string name;
      std::getline(list, name, ',');
      if (!name.empty()) selected.insert(name);
    }
    auto wanted = [&](std::string_view name) { return selected.empty() || selected.count(std::string(name)) > 0; };

    // Held-out clips, degraded as the official validation does (Chebyshev I, order 8, 4 kHz).
    auto pretransform = saga::make_pretransform(base);
    const auto valid = saga::load_clips(data::Manifest::read(corpus / "manifest_valid.jsonl"), pretransform->audio_channels());
    const auto ratio = pretransform->downsampling_ratio();
    const int64_t length = std::max<int64_t>(1, static_cast<int64_t>(eval_seconds * saga::kSuperResolutionRate) / ratio) * ratio;
    std::vector<EvalClip> clips;
    saga::SrMetrics floor;
    std::filesystem::create_directories(out / "eval");
    for (size_t i = 0; i < valid.audio.size() && static_cast<int64_t>(clips.size()) < eval_clips; ++i) {
      EvalClip c;
      c.name = valid.names[i];
      c.caption = valid.captions[i];
      c.high = valid.audio[i].narrow(1, 0, std::min(length, valid.audio[i].size(1)));
      auto gen = make_generator(i);
      c.low = audio::simulate_low_resolution(c.high, saga::kSuperResolutionRate, gen, saga::validation_degradation()).audio.to(torch::kFloat32);
      c.output_rolloff = output_rolloff == "measured" ? audio::rolloff_ratio(c.high) : std::stod(output_rolloff);
      audio::write_audio(out / "eval" / (c.name + "_hr.wav"), c.high[0], saga::kSuperResolutionRate);
      audio::write_audio(out / "eval" / (c.name + "_lr.wav"), c.low[0], saga::kSuperResolutionRate);
      clips.push_back(std::move(c));
    }
    CHORD_CHECK(!clips.empty(), "no held-out clips in ", (corpus / "manifest_valid.jsonl").string());
    for (const auto& c : clips) {
      const auto m = saga::sr_metrics(c.low, c.high);
      floor.lsd += m.lsd / static_cast<double>(clips.size());
      floor.si_sdr += m.si_sdr / static_cast<double>(clips.size());
    }
    std::cout << "[ablation] " << clips.size() << " held-out clips of " << static_cast<double>(length) / saga::kSuperResolutionRate
              << " s, degraded by Chebyshev I order 8 at 4 kHz; " << saga::lsd_settings() << "\n"
              << "[ablation] floor (the low-resolution input): LSD " << floor.lsd << ", SI-SDR " << floor.si_sdr << " dB\n";

    bool interrupted = false;
    std::vector<Row> rows;
    std::vector<std::pair<std::string, torch::Tensor>> panels{{"input (Chebyshev I, 4 kHz)", clips[0].low}};
    auto run_spec = [&]<class Spec>(std::type_identity<Spec>) {
      if (!wanted(Spec::name) || interrupted) return;
      auto cfg = base;
      cfg.out = (out / std::string(Spec::name)).string();
      cfg.fresh = true;
      const auto start = std::chrono::steady_clock::now();
      const auto trained = saga::train_super_resolution<Spec>(cfg, "ablation " + std::string(Spec::name));
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (trained.interrupted) {  // a signal stops the whole ablation, not just this step's training
        interrupted = true;
        return;
      }
      auto run = saga::load_run<Spec>(cfg.out, resolve_device(base.device));
      using Guidance = typename Spec::guidance;
      auto add_row = [&](const std::string& step, systems::LowFrequencyReplacement mode) {
        auto [metrics, first] = evaluate(run, clips, mode, sample_steps, out / step, "ablation " + step);
        rows.push_back({step, conditions_of<Spec>(), std::string(Guidance::name), lfr_name(mode), trained.final_loss, metrics.lsd,
                        metrics.si_sdr, trained.steps, seconds});
        panels.emplace_back(step, first);
        std::cout << "[ablation] " << step << ": final loss " << trained.final_loss << ", LSD " << metrics.lsd << ", SI-SDR "
                  << metrics.si_sdr << " dB\n";
      };
      add_row(std::string(Spec::name), Spec::low_frequency_replacement);
      if constexpr (std::is_same_v<Spec, systems::SagaStep2>) {
        add_row(std::string(systems::SagaStep2Prime::name), systems::SagaStep2Prime::low_frequency_replacement);
      }
    };
    run_spec(std::type_identity<systems::SagaStep0>{});
    run_spec(std::type_identity<systems::SagaStep1>{});
    run_spec(std::type_identity<systems::SagaStep2>{});
    run_spec(std::type_identity<systems::SagaStep3>{});
    run_spec(std::type_identity<systems::SagaOfficial>{});
    if (interrupted) {
      std::cerr << "[ablation] interrupted; no table written (each step's checkpoints are in " << out.string() << ")\n";
      return 130;
    }
    panels.emplace_back("reference (44.1 kHz)", clips[0].high);
    saga::save_sr_spectrograms(out / "spectrograms.png", panels);

    std::ostringstream table;
    table << std::fixed << std::setprecision(3);
    table << "| step | conditions | guidance (training drops) | LFR | updates | final loss | LSD ↓ | SI-SDR (dB) ↑ | train s |\n"
          << "|---|---|---|---|---|---|---|---|---|\n"
          << "| input (floor) | – | – | – | – | – | " << floor.lsd << " | " << floor.si_sdr << " | – |\n";
    nlohmann::json json = {{"floor", {{"lsd", floor.lsd}, {"si_sdr", floor.si_sdr}}}, {"config", base}, {"eval_clips", clips.size()},
                           {"sample_steps", sample_steps}, {"output_rolloff", output_rolloff}, {"settings", saga::lsd_settings()}};
    for (const auto& r : rows) {
      table << "| " << r.step << " | " << r.conditions << " | " << r.guidance << " | " << r.lfr << " | " << r.steps << " | " << r.final_loss
            << " | " << r.lsd << " | " << r.si_sdr << " | " << std::setprecision(0) << r.train_seconds << std::setprecision(3) << " |\n";
      json["rows"].push_back({{"step", r.step}, {"conditions", r.conditions}, {"guidance", r.guidance}, {"lfr", r.lfr},
                              {"updates", r.steps}, {"final_loss", r.final_loss}, {"lsd", r.lsd}, {"si_sdr", r.si_sdr},
                              {"train_seconds", r.train_seconds}});
    }
    std::ofstream(out / "results.md") << "# SAGA-SR ablation\n\n" << saga::lsd_settings() << ". Evaluation: " << clips.size()
                                      << " held-out clips, " << sample_steps << " Euler steps, output roll-off " << output_rolloff
                                      << ".\n\n" << table.str();
    std::ofstream(out / "results.json") << json.dump(2) << "\n";
    std::cout << "\n" << table.str() << "\n[ablation] table: " << (out / "results.md").string()
              << "\n[ablation] spectrograms: " << (out / "spectrograms.png").string() << "\n";
    return 0;
  } catch (const std::exception& error) {
    return apps::report_error("chord-saga-sr-ablation", error);
  }
}
