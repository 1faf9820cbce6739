// The Hub client's parts without a server: SHA-256 against FIPS 180-4's vectors, the options read
// from the environment as huggingface_hub reads them, names and paths, the registry, and a cache
// made by the Python huggingface_hub package (tests/fixtures/hub_cache) read offline. The HTTP side
// runs against a local server in tests/hub/run_hub_tests.sh.
#include <catch2/catch.hpp>

#include <chord/hub/download.hpp>
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

TEST_CASE("the registry: unique names, files for every model, F5-TTS entries as --model needs them", "[hub]") {
  std::set<std::string> names;
  for (const auto& model : chord::hub::published_models()) {
    INFO(model.name);
    CHECK(names.insert(model.name).second);
    CHECK_NOTHROW(chord::hub::check_repo_id(model.repo));
    CHECK_FALSE(model.files.empty());
    for (const auto& file : model.files) CHECK_NOTHROW(chord::hub::check_repo_filename(file.path));
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
