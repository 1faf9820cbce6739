// State-dict loading with reports, and the checkpoint manager (atomic writes, retention, resume).
#include "support.hpp"

#include <unistd.h>

#include <chord/io/checkpoint.hpp>
#include <chord/io/state_dict.hpp>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>
#include <fstream>

namespace {

struct TinyNetImpl : torch::nn::Module {
  TinyNetImpl() {
    proj = register_module("proj", torch::nn::Linear(3, 4));
    norm = register_module("norm", torch::nn::BatchNorm1d(4));
  }
  torch::Tensor forward(const torch::Tensor& x) { return norm(proj(x)); }
  torch::nn::Linear proj{nullptr};
  torch::nn::BatchNorm1d norm{nullptr};
};
TORCH_MODULE(TinyNet);

}  // namespace

TEST_CASE("state_dict names parameters and buffers by their registered paths", "[io][state_dict]") {
  TinyNet net;
  auto sd = chord::io::state_dict(*net);
  for (const char* key : {"proj.weight", "proj.bias", "norm.weight", "norm.bias", "norm.running_mean",
                          "norm.running_var", "norm.num_batches_tracked"}) {
    INFO(key);
    REQUIRE(sd.count(key));
  }
  REQUIRE(sd.size() == 7);
}

TEST_CASE("strict loading copies everything or nothing", "[io][state_dict]") {
  TinyNet source, target;
  auto sd = chord::io::state_dict(*source);
  auto report = chord::io::load_state_dict(*target, sd);
  REQUIRE(report.clean());
  REQUIRE(report.loaded.size() == 7);
  REQUIRE(torch::equal(target->proj->weight, source->proj->weight));

  TinyNet untouched;
  const auto before = untouched->proj->weight.clone();
  auto broken = sd;
  broken.erase("norm.bias");
  broken["proj.weight"] = torch::zeros({5, 3});
  broken["extra.weight"] = torch::zeros({1});
  try {
    chord::io::load_state_dict(*untouched, broken, {.strict = true, .strip_prefix = "", .ignore = {}, .source_name = "model.safetensors"});
    FAIL("strict load accepted a broken state dict");
  } catch (const chord::Error& error) {
    const std::string message = error.what();
    REQUIRE_THAT(message, Catch::Matchers::Contains("model.safetensors"));
    REQUIRE_THAT(message, Catch::Matchers::Contains("1 missing: norm.bias"));
    REQUIRE_THAT(message, Catch::Matchers::Contains("1 unexpected: extra.weight"));
    REQUIRE_THAT(message, Catch::Matchers::Contains("proj.weight (module [4, 3], source [5, 3])"));
  }
  REQUIRE(torch::equal(untouched->proj->weight, before));  // nothing was copied
}

TEST_CASE("non-strict loading reports what it skipped", "[io][state_dict]") {
  TinyNet source, target;
  auto sd = chord::io::state_dict(*source);
  sd.erase("proj.bias");
  sd["proj.weight"] = torch::zeros({2, 2});
  auto report = chord::io::load_state_dict(*target, sd, {.strict = false});
  REQUIRE(report.missing == std::vector<std::string>{"proj.bias"});
  REQUIRE(report.mismatched.size() == 1);
  REQUIRE(report.loaded.size() == 5);
  REQUIRE(torch::equal(target->norm->weight, source->norm->weight));
}

TEST_CASE("an EMA dict loads after stripping 'ema_model.' and ignoring its bookkeeping", "[io][state_dict]") {
  TinyNet source, target;
  chord::io::TensorMap ema{{"initted", torch::tensor(true)}, {"step", torch::tensor(1250000)}};
  for (const auto& [k, v] : chord::io::state_dict(*source)) ema["ema_model." + k] = v;
  auto report = chord::io::load_state_dict(*target, ema, {.strict = true, .strip_prefix = "ema_model.", .ignore = {"initted", "step"}});
  REQUIRE(report.clean());
  REQUIRE(torch::equal(target->norm->running_var, source->norm->running_var));
  // Without ignoring them the bookkeeping keys are unexpected.
  REQUIRE_THROWS_WITH(chord::io::load_state_dict(*target, ema, {.strict = true, .strip_prefix = "ema_model."}),
                      Catch::Matchers::Contains("2 unexpected: initted step"));
}

TEST_CASE("the checkpoint manager writes atomically and keeps the newest N", "[io][checkpoint]") {
  const auto dir = chord::test::scratch_dir("checkpoints_keep");
  chord::io::CheckpointManager manager(dir, "ckpt", 2);
  for (int64_t step : {10, 20, 30, 40}) {
    manager.save(step, [&](torch::serialize::OutputArchive& a) { a.write("value", torch::full({3}, double(step))); });
  }
  auto entries = manager.list();
  REQUIRE(entries.size() == 2);
  REQUIRE(entries[0].step == 30);
  REQUIRE(entries[1].step == 40);
  REQUIRE(entries[1].path.filename() == "ckpt_000000040.pt");
  for (const auto& file : std::filesystem::directory_iterator(dir)) {
    REQUIRE(file.path().string().find(".tmp") == std::string::npos);
  }
  torch::Tensor value;
  auto resumed = manager.load_latest([&](torch::serialize::InputArchive& a) { a.read("value", value); });
  REQUIRE(resumed.loaded);
  REQUIRE(resumed.loaded->step == 40);
  REQUIRE(resumed.skipped.empty());
  REQUIRE(value[0].item<double>() == 40.0);
}

TEST_CASE("resume skips a truncated or corrupt newest checkpoint and says so", "[io][checkpoint]") {
  const auto dir = chord::test::scratch_dir("checkpoints_truncated");
  chord::io::CheckpointManager manager(dir, "ckpt", 0);
  for (int64_t step : {1, 2, 3}) {
    manager.save(step, [&](torch::serialize::OutputArchive& a) { a.write("value", torch::full({1000}, double(step))); });
  }
  // newest: cut in half (a crash mid-copy); second newest: garbage bytes
  const auto newest = manager.path_for(3);
  std::filesystem::resize_file(newest, std::filesystem::file_size(newest) / 2);
  { std::ofstream(manager.path_for(2), std::ios::binary | std::ios::trunc) << "not a checkpoint at all"; }
  torch::Tensor value;
  auto resumed = manager.load_latest([&](torch::serialize::InputArchive& a) { a.read("value", value); });
  REQUIRE(resumed.loaded);
  REQUIRE(resumed.loaded->step == 1);
  REQUIRE(value[0].item<double>() == 1.0);
  REQUIRE(resumed.skipped.size() == 2);
  REQUIRE_THAT(resumed.skipped[0], Catch::Matchers::Contains("ckpt_000000003.pt: unreadable"));

  // When every file is unreadable nothing loads, and the reasons are still reported.
  std::filesystem::remove(manager.path_for(1));
  auto none = manager.load_latest([](torch::serialize::InputArchive&) { FAIL("read called"); });
  REQUIRE_FALSE(none.loaded);
  REQUIRE(none.skipped.size() == 2);

  chord::io::CheckpointManager empty(chord::test::scratch_dir("checkpoints_empty"));
  REQUIRE_FALSE(empty.load_latest([](torch::serialize::InputArchive&) {}).loaded);
}

TEST_CASE("only complete checkpoints count toward the keep budget; damaged ones never displace good ones",
          "[io][checkpoint]") {
  const auto dir = chord::test::scratch_dir("checkpoints_budget");
  chord::io::CheckpointManager manager(dir, "ckpt", 2);
  auto write = [](double v) { return [v](torch::serialize::OutputArchive& a) { a.write("value", torch::full({100}, v)); }; };
  manager.save(1, write(1));
  manager.save(2, write(2));
  // Damaged files with newer step numbers (a disk error, a bad copy): before, they counted toward the
  // budget and the next save deleted good checkpoints to keep them.
  { std::ofstream(manager.path_for(50), std::ios::binary) << "garbage"; }
  manager.save(3, write(3));
  std::filesystem::copy_file(manager.path_for(3), manager.path_for(60));
  std::filesystem::resize_file(manager.path_for(60), std::filesystem::file_size(manager.path_for(60)) - 10);
  manager.save(4, write(4));
  REQUIRE(chord::io::CheckpointManager::is_complete(manager.path_for(4)));
  REQUIRE_FALSE(chord::io::CheckpointManager::is_complete(manager.path_for(50)));
  REQUIRE_FALSE(chord::io::CheckpointManager::is_complete(manager.path_for(60)));
  std::vector<int64_t> steps;
  for (const auto& entry : manager.list()) steps.push_back(entry.step);
  REQUIRE(steps == std::vector<int64_t>{3, 4, 50, 60});  // the two newest good ones, and the damaged ones untouched
  torch::Tensor value;
  auto resumed = manager.load_latest([&](torch::serialize::InputArchive& a) { a.read("value", value); });
  REQUIRE(resumed.loaded->step == 4);
  REQUIRE(resumed.skipped.size() == 2);
}

TEST_CASE("temporary files of writers killed mid-write are removed; a live writer's are kept", "[io][checkpoint]") {
  const auto dir = chord::test::scratch_dir("checkpoints_stale");
  chord::io::CheckpointManager manager(dir, "checkpoint", 3);
  const auto dead = dir / "checkpoint_000000005.pt.tmp.999999999";   // no such process
  const auto live = dir / ("checkpoint_000000006.pt.tmp." + std::to_string(::getppid()));  // the test's parent
  const auto other = dir / "notes.pt.tmp.999999999";  // not ours
  for (const auto& p : {dead, live, other}) std::ofstream(p, std::ios::binary) << std::string(1000, 'x');
  const auto [removed, bytes] = manager.remove_stale_temporaries();
  REQUIRE(removed == std::vector<std::filesystem::path>{dead});
  REQUIRE(bytes == 1000);
  REQUIRE_FALSE(std::filesystem::exists(dead));
  REQUIRE(std::filesystem::exists(live));
  REQUIRE(std::filesystem::exists(other));
}

TEST_CASE("stale temporaries of any atomic output are found by name pattern", "[io][checkpoint]") {
  const auto dir = chord::test::scratch_dir("atomic_stale");
  const auto dead_model = dir / "G_12.safetensors.tmp.999999999";
  const auto dead_best = dir / "generator_best.safetensors.tmp.999999998";
  const auto live = dir / ("D_12.safetensors.tmp." + std::to_string(::getppid()));
  const auto unmatched = dir / "notes.safetensors.tmp.999999999";       // another name
  const auto huge_pid = dir / "G_13.safetensors.tmp.99999999999999999999";  // no process id: not AtomicFile's
  const auto finished = dir / "G_11.safetensors";
  for (const auto& p : {dead_model, dead_best, live, unmatched, huge_pid, finished}) std::ofstream(p, std::ios::binary) << std::string(300, 'x');
  const auto removed = chord::io::remove_stale_temporaries(dir, "[A-Z]+_[0-9]+\\.safetensors|generator(_best)?\\.safetensors");
  auto files = removed.files;
  std::sort(files.begin(), files.end());
  REQUIRE(files == std::vector<std::filesystem::path>{dead_model, dead_best});
  REQUIRE(removed.bytes == 600);
  REQUIRE(removed.describe() == "removed 2 temporary file(s) (0 MB) in " + dir.string() + " left by a run killed while writing");
  for (const auto& kept : {live, unmatched, huge_pid, finished}) REQUIRE(std::filesystem::exists(kept));
  REQUIRE(chord::io::remove_stale_temporaries(dir / "absent", ".*").describe().empty());
}

TEST_CASE("a checkpoint name whose step does not fit int64 is not taken for one of the run's", "[io][checkpoint]") {
  const auto dir = chord::test::scratch_dir("checkpoints_huge_step");
  chord::io::CheckpointManager manager(dir, "checkpoint", 3);
  manager.save(3, [](torch::serialize::OutputArchive& a) { a.write("value", torch::full({1}, 3.0)); });
  std::ofstream(dir / "checkpoint_99999999999999999999.pt", std::ios::binary) << "not a checkpoint";
  torch::Tensor value;
  auto resumed = manager.load_latest([&](torch::serialize::InputArchive& a) { a.read("value", value); });  // std::stoll threw here
  REQUIRE(resumed.loaded->step == 3);
  REQUIRE(value.item<double>() == 3.0);
}

TEST_CASE("a trainer checkpoint's weights read back for inference, with the EMA's averages", "[io][checkpoint]") {
  const auto dir = chord::test::scratch_dir("checkpoints_weights");
  chord::io::CheckpointManager manager(dir);
  manager.save(7, [](torch::serialize::OutputArchive& a) {
    a.write("trainer_step", c10::IValue(int64_t{7}));
    chord::io::write_tensor_map(a, chord::io::trainer_module_key("model"),
                                {{"w", torch::ones({2})}, {"count", torch::tensor({3}, torch::kLong)}});
    torch::serialize::OutputArchive ema;
    chord::io::write_tensor_map(ema, "shadow", {{"w", torch::full({2}, 0.5)}});
    a.write(chord::io::trainer_ema_key("model"), ema);
  });
  const auto weights = chord::io::read_trainer_weights(manager.path_for(7), "model");
  REQUIRE(weights.averaged);
  REQUIRE(weights.step == 7);
  REQUIRE(weights.tensors.at("w")[0].item<double>() == 0.5);
  REQUIRE(weights.tensors.at("count")[0].item<int64_t>() == 3);
  REQUIRE_THROWS_WITH(chord::io::read_trainer_weights(manager.path_for(7), "generator"),
                      Catch::Matchers::Contains("no entry 'module_generator'"));
  { std::ofstream(dir / "pickle.pt", std::ios::binary) << "\x80\x02not a zip"; }
  REQUIRE_THROWS_WITH(chord::io::read_trainer_weights(dir / "pickle.pt", "model"),
                      Catch::Matchers::Contains("is not a readable chord trainer checkpoint"));
}

TEST_CASE("tensor maps with arbitrary names survive a checkpoint archive", "[io][checkpoint]") {
  const auto dir = chord::test::scratch_dir("checkpoints_names");
  chord::io::CheckpointManager manager(dir);
  chord::io::TensorMap tensors{{"in.weight", torch::ones({2})}, {"blocks.0.attn.to_out.0.bias", torch::zeros({3})}};
  manager.save(1, [&](torch::serialize::OutputArchive& a) { chord::io::write_tensor_map(a, "module_model", tensors); });
  chord::io::TensorMap back;
  auto resumed = manager.load_latest([&](torch::serialize::InputArchive& a) { back = chord::io::read_tensor_map(a, "module_model"); });
  REQUIRE(resumed.loaded);
  REQUIRE(back.size() == 2);
  REQUIRE(torch::equal(back.at("blocks.0.attn.to_out.0.bias"), tensors.at("blocks.0.attn.to_out.0.bias")));
  REQUIRE_THROWS_WITH(chord::io::check_archive_key("in"), Catch::Matchers::Contains("Python keyword"));
  REQUIRE_THROWS_WITH(chord::io::check_archive_key("a.b"), Catch::Matchers::Contains("letters, digits"));
}
