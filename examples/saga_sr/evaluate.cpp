// chord-sr-eval: objective super-resolution metrics over a folder — LSD and SI-SDR of every estimate
// against its reference, and of the low-resolution input as the floor when given. Prints the STFT
// settings; writes a JSON report.
#include <chord/apps/cli.hpp>
#include <chord/audio/io.hpp>
#include <chord/systems/saga_sr/config.hpp>
#include <chord/systems/saga_sr/metrics.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iomanip>

int main(int argc, char** argv) {
  using namespace chord;
  namespace saga = systems::saga_sr;
  CLI::App app{"LSD and SI-SDR of super-resolved audio against references, with the low-resolution input as the floor."};
  std::filesystem::path estimates, references, inputs, json_path;
  std::string reference_suffix, input_suffix;
  app.add_option("--estimates", estimates, "Folder of estimates (*.wav)")->required();
  app.add_option("--references", references, "Folder of references: <name><reference-suffix>.wav for each estimate <name>.wav")->required();
  app.add_option("--reference-suffix", reference_suffix, "e.g. _hr for the ablation's eval/ folder");
  app.add_option("--inputs", inputs, "Folder of low-resolution inputs (the floor)");
  app.add_option("--input-suffix", input_suffix, "e.g. _lr");
  app.add_option("--json", json_path, "Report file (default: <estimates>/metrics.json)");
  CLI11_PARSE(app, argc, argv);
  try {
    CHORD_CHECK(std::filesystem::is_directory(estimates), "--estimates '", estimates.string(), "' is not a folder");
    const auto path = json_path.empty() ? estimates / "metrics.json" : json_path;
    apps::require_output_file(path, "--json");
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(estimates)) {
      if (entry.path().extension() == ".wav") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    CHORD_CHECK(!files.empty(), "no .wav files in '", estimates.string(), "'");
    auto mono = [](const std::filesystem::path& path) {
      auto a = audio::read_audio(path);
      CHORD_CHECK(a.sample_rate == saga::kSuperResolutionRate, path.string(), ": ", a.sample_rate, " Hz; the metrics are defined at 44.1 kHz");
      return a.samples.dim() == 2 ? a.samples.mean(0) : a.samples;
    };
    std::cout << "[sr-eval] " << saga::lsd_settings() << "\n" << std::fixed << std::setprecision(3);
    nlohmann::json report = {{"settings", saga::lsd_settings()}};
    saga::SrMetrics mean, floor;
    for (const auto& file : files) {
      const auto name = file.stem().string();
      const auto reference = references / (name + reference_suffix + ".wav");
      CHORD_CHECK(std::filesystem::exists(reference), "no reference for ", file.string(), " (looked for ", reference.string(), ")");
      const auto target = mono(reference);
      const auto m = saga::sr_metrics(mono(file), target);
      mean.lsd += m.lsd / static_cast<double>(files.size());
      mean.si_sdr += m.si_sdr / static_cast<double>(files.size());
      nlohmann::json row = {{"name", name}, {"lsd", m.lsd}, {"si_sdr", m.si_sdr}};
      std::cout << name << ": LSD " << m.lsd << ", SI-SDR " << m.si_sdr << " dB";
      if (!inputs.empty()) {
        const auto f = saga::sr_metrics(mono(inputs / (name + input_suffix + ".wav")), target);
        floor.lsd += f.lsd / static_cast<double>(files.size());
        floor.si_sdr += f.si_sdr / static_cast<double>(files.size());
        row["input_lsd"] = f.lsd;
        row["input_si_sdr"] = f.si_sdr;
        std::cout << " (input: LSD " << f.lsd << ", SI-SDR " << f.si_sdr << " dB)";
      }
      std::cout << "\n";
      report["clips"].push_back(row);
    }
    report["mean"] = {{"lsd", mean.lsd}, {"si_sdr", mean.si_sdr}};
    std::cout << "[sr-eval] mean over " << files.size() << " clips: LSD " << mean.lsd << ", SI-SDR " << mean.si_sdr << " dB";
    if (!inputs.empty()) {
      report["floor"] = {{"lsd", floor.lsd}, {"si_sdr", floor.si_sdr}};
      std::cout << "; input floor: LSD " << floor.lsd << ", SI-SDR " << floor.si_sdr << " dB";
    }
    std::cout << "\n";
    std::ofstream(path) << report.dump(2) << "\n";
    std::cout << "[sr-eval] report: " << path.string() << "\n";
    return 0;
  } catch (const std::exception& error) {
    return apps::report_error("chord-sr-eval", error);
  }
}
