// chord-fetch: published weights by name (or any Hub file) into the Hugging Face cache that the
// Python huggingface_hub package shares, with a progress line; prints where the files are and, for a
// pickled checkpoint, the command that converts it for chord.
//
//   chord-fetch --list
//   chord-fetch F5TTS_v1_Base [--revision <branch, tag or commit>]
//   chord-fetch --repo org/name --file path/in/repo [--file ...] [--revision R]
#include <chord/apps/cli.hpp>
#include <chord/apps/published_models.hpp>
#include <chord/hub/download.hpp>
#include <chord/hub/published.hpp>
#include <chord/hub/registry.hpp>

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>
#include <vector>

namespace {

void list_models() {
  for (const auto& model : chord::hub::published_models()) {
    std::cout << model.name << "  (" << model.system << ")\n"
              << "    " << model.repo << " @ " << model.revision << (model.gated ? "  [gated: accept the licence, set HF_TOKEN]" : "") << "\n";
    for (const auto& file : model.files)
      std::cout << "    " << file.role << ": " << file.path << (file.sha256.empty() ? "" : "  (sha256 " + file.sha256 + ")") << "\n";
    std::cout << "    conversion: " << (model.conversion.empty() ? "none (read as downloaded)" : model.conversion) << "\n";
    if (!model.note.empty()) std::cout << "    note: " << model.note << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string program = "chord-fetch";
  CLI::App app{"Download published weights into the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else "
               "~/.cache/huggingface/hub), shared with the Python huggingface_hub package. Environment: HF_ENDPOINT, "
               "HF_TOKEN (or the token file of `hf auth login`), HF_HUB_OFFLINE=1 (the cache only)."};
  chord::apps::take_last_of_repeated_options(app);
  std::string name, repo, revision;
  std::vector<std::string> files;
  bool list = false;
  app.add_option("name", name, "A published model (see --list)");
  app.add_flag("--list", list, "List the published models chord knows, their files and conversions");
  app.add_option("--repo", repo, "Any model repository (org/name) instead of a published model's name");
  app.add_option("--file", files, "A file of --repo (repeat for several)")->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--revision", revision, "Branch, tag or commit (default: the commit the registry pins, or main for --repo)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (list) {
      list_models();
      return 0;
    }
    CHORD_CHECK(name.empty() != repo.empty(), "give a published model's name (chord-fetch --list) or --repo org/name --file path");
    CHORD_CHECK(repo.empty() || !files.empty(), "--repo needs at least one --file");
    CHORD_CHECK(!repo.empty() || files.empty(), "--file goes with --repo (a published model's files are in the registry)");
    const auto options = chord::hub::HubOptions::from_environment();
    const auto progress = chord::apps::download_progress(program);
    std::cerr << "[" << program << "] cache: " << options.cache_dir.string() << (options.offline ? " (offline)" : "") << "\n";
    auto fetch = [&](const std::string& repo_id, const std::string& file, const std::string& rev) {
      const auto fetched = chord::hub::fetch_file(repo_id, file, rev, options, progress);
      std::cerr << "[" << program << "] " << file << ": " << (fetched.downloaded ? "downloaded" : "in the cache") << " ("
                << chord::apps::format_bytes(std::filesystem::file_size(fetched.path)) << ", commit " << fetched.commit << ")\n";
      std::cout << fetched.path.string() << "\n";
      return fetched;
    };
    if (!repo.empty()) {
      for (const auto& file : files) fetch(repo, file, revision.empty() ? "main" : revision);
      return 0;
    }
    const auto& model = chord::hub::find_published_model(name);
    const auto resolved = chord::hub::fetch_published_model(model, revision, options, progress);
    for (const auto& file : model.files) {
      const auto& path = resolved.file(file.role);
      std::cerr << "[" << program << "] " << file.path << ": " << chord::apps::format_bytes(std::filesystem::file_size(path))
                << (file.sha256.empty() || !(revision.empty() || revision == model.revision) ? "" : ", sha256 as pinned") << "\n";
      std::cout << path.string() << "\n";
    }
    if (!model.conversion.empty()) {
      std::cerr << "[" << program << "] " << model.name << " needs a conversion for chord (" << model.note << "):\n"
                << "  " << chord::apps::fill_paths(model.conversion, resolved) << "\n";
    }
    std::cerr << "[" << program << "] use: " << chord::apps::fill_paths(model.usage, resolved) << "\n";
    return 0;
  } catch (const std::exception& error) {
    return chord::apps::report_error(program, error);
  }
}
