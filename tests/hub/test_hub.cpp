// The Hub client's parts without a server: SHA-256 against FIPS 180-4's vectors, the options read
// from the environment as huggingface_hub reads them, names and paths, the registry, and a cache
// made by the Python huggingface_hub package (tests/fixtures/hub_cache) read offline. The HTTP side
// runs against a local server in tests/hub/run_hub_tests.sh.
#include <catch2/catch.hpp>

#include <chord/apps/published_models.hpp>
#include <chord/hub/download.hpp>
#include <chord/hub/published.hpp>
#include <chord/hub/registry.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

std::string sha256(const std::string& text) {
  chord::hub::Sha256 hash;
  hash.update(text);
  return hash.hex();
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Sets environment variables for one scope, restoring what was there.
class Environment {
 public:
  void set(const std::string& name, const std::optional<std::string>& value) {
    if (!saved_.count(name)) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
  ~Environment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

const char* const kVariables[] = {"HF_ENDPOINT", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HF_TOKEN",
                                  "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"};

/// A copy of the Python-made fixture cache (tests may not write into the source tree).
fs::path python_cache_copy(const std::string& name) {
  const fs::path copy = fs::path(CHORD_TEST_OUTPUT) / "hub_unit" / name;
  fs::remove_all(copy);
  fs::create_directories(copy.parent_path());
  fs::copy(fs::path(CHORD_TEST_FIXTURES) / "hub_cache", copy, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  return copy;
}

constexpr const char* kWeightsSha = "f6f48e1d5356f242cc6cec0796728e292f35bd92e072e252cfe5cbcd49678aad";

}  // namespace

TEST_CASE("SHA-256 matches the FIPS 180-4 examples, however the input is split", "[hub]") {
  CHECK(sha256("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu") ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  CHECK(sha256(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  std::string text;
  for (int i = 0; i < 300; ++i) text += static_cast<char>(i * 7 + 3);
  const auto whole = sha256(text);
  for (size_t cut = 0; cut <= text.size(); cut += 13) {
    chord::hub::Sha256 hash;
    hash.update(text.substr(0, cut));
    hash.update(text.substr(cut));
    CHECK(hash.hex() == whole);
  }
}

TEST_CASE("Hub options come from the variables huggingface_hub reads", "[hub]") {
  Environment env;
  for (const char* name : kVariables) env.set(name, std::nullopt);
  const fs::path home = fs::path(CHORD_TEST_OUTPUT) / "hub_unit" / "home";
  fs::create_directories(home);
  env.set("HOME", home.string());

  auto options = chord::hub::HubOptions::from_environment();
  CHECK(options.endpoint == "https://huggingface.co");
  CHECK(options.cache_dir == home / ".cache" / "huggingface" / "hub");
  CHECK(options.token.empty());
  CHECK_FALSE(options.offline);

  env.set("XDG_CACHE_HOME", (home / "xdg").string());
  CHECK(chord::hub::HubOptions::from_environment().cache_dir == home / "xdg" / "huggingface" / "hub");
  env.set("HF_HOME", "~/hf");
  fs::create_directories(home / "hf");
  std::ofstream(home / "hf" / "token") << "  hf_fromTheTokenFile\n";
  options = chord::hub::HubOptions::from_environment();
  CHECK(options.cache_dir == home / "hf" / "hub");
  CHECK(options.token == "hf_fromTheTokenFile");

  env.set("HF_HUB_CACHE", (home / "elsewhere").string());
  env.set("HF_TOKEN", "hf_fromTheEnvironment");
  env.set("HF_ENDPOINT", "http://127.0.0.1:8080/");
  env.set("HF_HUB_OFFLINE", "yes");
  options = chord::hub::HubOptions::from_environment();
  CHECK(options.cache_dir == home / "elsewhere");
  CHECK(options.token == "hf_fromTheEnvironment");
  CHECK(options.endpoint == "http://127.0.0.1:8080");
  CHECK(options.offline);
  env.set("HF_HUB_OFFLINE", "0");
  CHECK_FALSE(chord::hub::HubOptions::from_environment().offline);
}

TEST_CASE("repository names, paths and URLs follow the Hub's conventions", "[hub]") {
  using namespace chord::hub;
  CHECK(repo_folder_name("SWivid/F5-TTS") == "models--SWivid--F5-TTS");
  CHECK(repo_folder_name("t5-base") == "models--t5-base");
  CHECK_NOTHROW(check_repo_id("charactr/vocos-mel-24khz"));
  CHECK_THROWS_WITH(check_repo_id("a/b/c"), Catch::Contains("not a Hugging Face repository id"));
  CHECK_THROWS(check_repo_id("../x"));
  CHECK_THROWS_WITH(check_repo_filename("../../etc/passwd"), Catch::Contains("without '..'"));
  CHECK_THROWS(check_repo_filename("/abs"));
  CHECK_NOTHROW(check_repo_filename("F5TTS_v1_Base/vocab.txt"));
  CHECK_NOTHROW(check_revision("refs/pr/1"));
  CHECK(is_commit_hash("754c1193161dd0db361471a822b9af6c92d5f77a"));
  CHECK_FALSE(is_commit_hash("main"));
  CHECK(http::quote("refs/pr/1", false) == "refs%2Fpr%2F1");
  CHECK(http::quote("dir/a b.txt", true) == "dir/a%20b.txt");
  CHECK(http::resolve_location("http://h:1/a/resolve/main/x", "/b/resolve/main/x") == "http://h:1/b/resolve/main/x");
  CHECK(http::origin_of("HTTPS://Hub.example:443/x") == "https://hub.example:443");
  CHECK(chord::hub::detail::normalize_etag("W/\"abc\"") == "abc");
  CHECK(chord::hub::detail::redact("Bearer hf_secret1 and hf_secret1", "hf_secret1") == "Bearer <token> and <token>");
}

TEST_CASE("a cache made by Python's huggingface_hub is read offline", "[hub]") {
  chord::hub::HubOptions options;
  options.cache_dir = python_cache_copy("python_made");
  options.offline = true;
  const auto weights = chord::hub::fetch_file("chord-test/tiny", "weights.bin", "main", options);
  CHECK_FALSE(weights.downloaded);
  CHECK(chord::hub::sha256_of_file(weights.path) == kWeightsSha);
  CHECK(weights.commit == "bfeeadfce2702f19995771b50e69a442c75a4e4b");
  CHECK(read(chord::hub::download_file("chord-test/tiny", "sub/dir/vocab.txt", "main", options)) == "a\nb\nc\n\xc3\xa9\n");
  CHECK(read(chord::hub::download_file("chord-test/tiny", "config.json", "v1.0", options)) == "{\"dim\": 4, \"depth\": 1}\n");
  CHECK(read(chord::hub::download_file("chord-test/tiny", "config.json", "754c1193161dd0db361471a822b9af6c92d5f77a", options)) ==
        "{\"dim\": 4, \"depth\": 1}\n");

  CHECK_THROWS_WITH(chord::hub::download_file("chord-test/tiny", "missing.txt", "main", options),
                    Catch::Contains("offline (HF_HUB_OFFLINE=1): 'missing.txt' of chord-test/tiny at revision 'main' is not in") &&
                        Catch::Contains("chord-fetch --repo chord-test/tiny --file missing.txt"));
  CHECK_THROWS_WITH(chord::hub::download_file("chord-test/tiny", "config.json", "v2.0", options), Catch::Contains("no ref 'v2.0'"));
  CHECK_THROWS_WITH(chord::hub::download_file("nobody/nothing", "x.bin", "main", options), Catch::Contains("nothing of nobody/nothing"));
}

TEST_CASE("an unreachable Hub falls back to the cached copy; a commit revision asks nothing", "[hub]") {
  chord::hub::HubOptions options;
  options.cache_dir = python_cache_copy("unreachable");
  options.endpoint = "http://127.0.0.1:9";  // the discard port: nothing listens there
  options.first_backoff_seconds = 0.0;
  options.max_retries = 1;
  CHECK(chord::hub::sha256_of_file(chord::hub::download_file("chord-test/tiny", "weights.bin", "main", options)) == kWeightsSha);
  CHECK_NOTHROW(chord::hub::download_file("chord-test/tiny", "config.json", "754c1193161dd0db361471a822b9af6c92d5f77a", options));
  CHECK_THROWS_WITH(chord::hub::download_file("chord-test/tiny", "other.bin", "main", options),
                    Catch::Contains("cannot reach http://127.0.0.1:9") && Catch::Contains("not in the cache"));
}

TEST_CASE("the registry: unique names, pinned commits, files for every model, F5-TTS entries as --model needs them", "[hub]") {
  std::set<std::string> names;
  const std::set<std::string> flags{"--model", "--vocos", "--pretransform oobleck:", "--text-encoder t5:", "--wavlm-weights"};
  for (const auto& model : chord::hub::published_models()) {
    INFO(model.name);
    CHECK(names.insert(model.name).second);
    CHECK_NOTHROW(chord::hub::check_repo_id(model.repo));
    CHECK(chord::hub::is_commit_hash(model.revision));  // pinned: "main" would move under the user
    CHECK(flags.count(model.flag) == 1);
    CHECK_FALSE(model.files.empty());
    for (const auto& file : model.files) {
      CHECK_NOTHROW(chord::hub::check_repo_filename(file.path));
      CHECK((file.sha256.empty() || chord::hub::detail::is_sha256(file.sha256)));
    }
    const bool pickled = std::any_of(model.files.begin(), model.files.end(), [](const auto& f) { return f.path.ends_with(".bin"); });
    CHECK(pickled == !model.conversion.empty());  // chord never unpickles: every pickle has its conversion
  }
  for (const char* name : {"F5TTS_v1_Base", "F5TTS_Base"}) {
    const auto& model = chord::hub::find_published_model(name);
    CHECK(model.repo == "SWivid/F5-TTS");
    CHECK(model.file_with_role("checkpoint") != nullptr);
    CHECK(model.file_with_role("vocab") != nullptr);
    CHECK(model.preset == name);
  }
  CHECK(chord::hub::find_published_model("F5TTS_v1_Base").file_with_role("checkpoint")->path == "F5TTS_v1_Base/model_1250000.safetensors");
  CHECK(chord::hub::find_published_model("stable-audio-open-1.0").gated);
  CHECK_THROWS_WITH(chord::hub::find_published_model("F5TTS_v9"), Catch::Contains("known: F5TTS_v1_Base, F5TTS_Base"));
}

namespace {

/// A registered-model entry over the fixture repository chord-test/tiny, pinned to `commit`.
chord::hub::PublishedModel tiny_model(const std::string& commit, const std::string& weights_sha, const std::string& vocab_sha) {
  chord::hub::PublishedModel model;
  model.name = "tiny";
  model.repo = "chord-test/tiny";
  model.revision = commit;
  model.files = {{"weights.bin", "weights", weights_sha}, {"sub/dir/vocab.txt", "vocab", vocab_sha}};
  return model;
}

constexpr const char* kVocabSha = "ceec531dfe632d7481783a3654f1d6791ccaebba3f10e62a320ac262e8a38a56";
constexpr const char* kUncachedCommit = "1111111111111111111111111111111111111111";

}  // namespace

TEST_CASE("a pinned model is found by content in a cache Python filled at another revision", "[hub]") {
  chord::hub::HubOptions options;
  options.cache_dir = python_cache_copy("pinned_by_content");
  options.offline = true;
  std::vector<std::string> notes;
  chord::hub::Progress progress;
  progress.on_note = [&](const std::string& note) { notes.push_back(note); };

  // The pin is not in the cache; main's copies have the pinned content (the LFS blob by its name, the
  // small git-stored vocab by hashing it): used without a request, the cache left as it was.
  const auto model = tiny_model(kUncachedCommit, kWeightsSha, kVocabSha);
  const auto files = chord::hub::fetch_published_model(model, {}, options, progress);
  const auto main_snapshot = options.cache_dir / "models--chord-test--tiny/snapshots/bfeeadfce2702f19995771b50e69a442c75a4e4b";
  CHECK(files.file("weights") == main_snapshot / "weights.bin");
  CHECK(files.file("vocab") == main_snapshot / "sub/dir/vocab.txt");
  CHECK(files.snapshot == main_snapshot);
  REQUIRE(notes.size() == 2);
  CHECK_THAT(notes[0], Catch::Contains("using the copy cached at commit bfeeadfce2702f19995771b50e69a442c75a4e4b") &&
                           Catch::Contains("sha256 f6f48e1d5356"));
  CHECK_FALSE(fs::exists(options.cache_dir / "models--chord-test--tiny/snapshots" / kUncachedCommit));

  // Other content is not taken for the pinned file: offline, the pin is simply missing.
  const std::string other_sha(64, 'a');
  CHECK_THROWS_WITH(chord::hub::fetch_published_model(tiny_model(kUncachedCommit, other_sha, kVocabSha), {}, options),
                    Catch::Contains("offline (HF_HUB_OFFLINE=1): 'weights.bin' of chord-test/tiny at revision '" + std::string(kUncachedCommit) +
                                    "' is not in the Hugging Face cache"));
}

TEST_CASE("a pinned file with other content is refused; another revision is taken as it is", "[hub]") {
  chord::hub::HubOptions options;
  options.cache_dir = python_cache_copy("pinned_mismatch");
  options.offline = true;
  const std::string main_commit = "bfeeadfce2702f19995771b50e69a442c75a4e4b";
  const std::string wrong_sha(64, 'c');

  // The pinned commit is cached, its weights.bin is not what the registry names: refused, both hashes said.
  CHECK_THROWS_WITH(chord::hub::fetch_published_model(tiny_model(main_commit, wrong_sha, kVocabSha), {}, options),
                    Catch::Contains("'weights.bin' of chord-test/tiny at the pinned commit " + main_commit) &&
                        Catch::Contains("sha256 " + std::string(kWeightsSha) + ", pinned " + wrong_sha) && Catch::Contains("--model-revision main"));
  // The same for a small git-stored file, hashed.
  CHECK_THROWS_WITH(chord::hub::fetch_published_model(tiny_model(main_commit, kWeightsSha, wrong_sha), {}, options),
                    Catch::Contains("'sub/dir/vocab.txt' of chord-test/tiny") && Catch::Contains("sha256 " + std::string(kVocabSha)));
  // Matching content passes; a revision of the user's choice is not checked against the pin's hashes.
  CHECK_NOTHROW(chord::hub::fetch_published_model(tiny_model(main_commit, kWeightsSha, kVocabSha), {}, options));
  const auto chosen = chord::hub::fetch_published_model(tiny_model(kUncachedCommit, wrong_sha, wrong_sha), "main", options);
  CHECK(chosen.file("weights").parent_path().filename() == main_commit);
}

TEST_CASE("a file option names a published model: fetched, refused with the way forward, or left alone", "[hub]") {
  Environment environment;
  for (const char* variable : kVariables) environment.set(variable, std::nullopt);
  const auto cache = python_cache_copy("option_values");
  environment.set("HF_HUB_CACHE", cache.string());
  environment.set("HF_HUB_OFFLINE", "1");
  using chord::apps::published_path_or_value;
  // Paths that exist and names the registry does not know come back for the option's own checks.
  CHECK(published_path_or_value(cache.string(), "--vocos", "weights", "test") == cache.string());
  CHECK(published_path_or_value("no-such-file.safetensors", "--vocos", "weights", "test") == "no-such-file.safetensors");
  CHECK(published_path_or_value("", "--vocos", "weights", "test").empty());
  // A pickle is never read: the message says how to convert it.
  CHECK_THROWS_WITH(published_path_or_value("vocos-mel-24khz", "--vocos", "weights", "test"),
                    Catch::Contains("--vocos vocos-mel-24khz: vocos-mel-24khz is published as a pickle") &&
                        Catch::Contains("`chord-fetch vocos-mel-24khz`"));
  CHECK_THROWS_WITH(published_path_or_value("wavlm-base-plus", "--wavlm-weights", "weights", "test"),
                    Catch::Contains("published as a pickle"));
  // A model for another option.
  CHECK_THROWS_WITH(published_path_or_value("t5-base", "--pretransform oobleck:", "weights", "test"),
                    Catch::Contains("--pretransform oobleck:t5-base: the published model 't5-base' is for --text-encoder t5:"));
  // The right option: fetched (offline here, so the message names the pinned commit that is missing).
  CHECK_THROWS_WITH(published_path_or_value("t5-base", "--text-encoder t5:", "folder", "test"),
                    Catch::Contains("'config.json' of t5-base at revision 'a9723ea7f1b39c1eae772870f3b547bf6ef7e6c1' is not in the Hugging Face cache"));
}
