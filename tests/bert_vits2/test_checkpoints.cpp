// Bert-VITS2 model files (systems/bert_vits2/checkpoints.hpp): G_/D_/DUR_/WD_<step>.safetensors round
// trips, the keep budget per prefix (D does not eat DUR, unlike the reference's clean_checkpoints), a
// base-model start with another speaker count, files of another configuration, damaged files, and a
// generator written by the reference (utils.save_checkpoint → scripts/convert_bert_vits2.py) loaded strictly.
#include "support.hpp"
#include "bert_vits2/keys.hpp"
#include "bert_vits2/tiny.hpp"

#include <chord/systems/bert_vits2.hpp>
#include <chord/systems/bert_vits2/checkpoints.hpp>

#include <fstream>
#include <set>

namespace bv2 = chord::systems::bert_vits2;
using chord::test::tiny_gan_options;
using Full = chord::systems::BertVits2;
using MpdOnly = chord::systems::BertVits2MultiPeriodOnly;

namespace {

/// The small configuration of tests/parity/make_bert_vits2_checkpoint_fixtures.py: 65 bins (n_fft 128),
/// hop 16 = 4·4, 8 channels, 3 speakers; the reference's hard-coded sizes (16 posterior WN layers, DP
/// filter 256) kept.
bv2::SynthesizerOptions small_options() {
  bv2::SpectrogramConfig spectrogram;
  spectrogram.sampling_rate = 16000;
  spectrogram.filter_length = 128;
  spectrogram.hop_length = 16;
  spectrogram.win_length = 128;
  spectrogram.n_mel_channels = 20;
  return bv2::SynthesizerOptions()
      .spec_channels(65)
      .segment_frames(32)
      .inter_channels(8)
      .hidden_channels(8)
      .filter_channels(16)
      .n_heads(2)
      .n_layers(3)
      .kernel_size(3)
      .decoder(chord::nn::vits::GeneratorOptions()
                   .initial_channel(8)
                   .resblock("2")
                   .resblock_kernel_sizes({3})
                   .resblock_dilation_sizes({{1, 3}})
                   .upsample_rates({4, 4})
                   .upsample_initial_channel(16)
                   .upsample_kernel_sizes({8, 8})
                   .gin_channels(8))
      .n_speakers(3)
      .gin_channels(8)
      .posterior_layers(16)
      .n_flow_layer(2)
      .n_layers_trans_flow(3)
      .duration_filter_channels(256)
      .spectrogram(spectrogram);
}

/// Every tensor the model files hold, as "<prefix> <key>" (cloned: a later load must not alias them).
template <class Spec>
std::map<std::string, torch::Tensor> file_tensors(chord::GanModel<Spec>& model) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& slot : bv2::detail::model_file_slots(model)) {
    for (const auto& [key, tensor] : chord::io::state_dict(*slot.module)) out.emplace(slot.prefix + " " + key, tensor.clone());
  }
  return out;
}

/// Keys whose tensors differ between `a` and `b` (same key sets required).
std::vector<std::string> differing(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  REQUIRE(a.size() == b.size());
  std::vector<std::string> keys;
  for (const auto& [key, tensor] : a) {
    REQUIRE(b.count(key));
    if (!torch::equal(tensor, b.at(key))) keys.push_back(key);
  }
  return keys;
}

std::set<int64_t> steps_of(const std::filesystem::path& dir, std::string_view prefix) {
  const auto steps = bv2::model_file_steps(dir, prefix);
  return {steps.begin(), steps.end()};
}

std::set<std::string> file_names(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

void truncate_to_half(const std::filesystem::path& path) {
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
}

}  // namespace

TEST_CASE("model file names: prefix and step, DUR is not D", "[bert_vits2][checkpoints]") {
  const auto dur = bv2::parse_model_file_name("run/DUR_1200.safetensors");
  REQUIRE(dur);
  REQUIRE(dur->prefix == "DUR");
  REQUIRE(dur->step == 1200);
  REQUIRE(bv2::parse_model_file_name("D_0.safetensors")->prefix == "D");
  REQUIRE_FALSE(bv2::parse_model_file_name("G_1000.pth"));
  REQUIRE_FALSE(bv2::parse_model_file_name("G_.safetensors"));
  REQUIRE_FALSE(bv2::parse_model_file_name("G_10a.safetensors"));
  REQUIRE_FALSE(bv2::parse_model_file_name("bert_vits2_G_small.safetensors"));
}

TEST_CASE("save_model_files then load_model_files into a fresh model restores every network", "[bert_vits2][checkpoints]") {
  const auto dir = chord::test::scratch_dir("bert_vits2_checkpoints_round_trip");
  torch::manual_seed(1);
  chord::GanModel<Full> saved(tiny_gan_options<Full>());
  const auto written = bv2::save_model_files(saved, dir, 100, bv2::SaveModelOptions().epoch(3));
  REQUIRE(written.written.size() == 4);
  REQUIRE(written.removed.empty());
  // Written atomically: the four files and no temporary left beside them.
  REQUIRE(file_names(dir) == std::set<std::string>{"G_100.safetensors", "DUR_100.safetensors", "D_100.safetensors", "WD_100.safetensors"});

  // The reference's layouts: net_g's keys at the top level; WD holds net_wd (WavLMDiscriminator) alone.
  chord::io::SafetensorsReader g(dir / "G_100.safetensors");
  REQUIRE(g.contains("enc_p.emb.weight"));
  REQUIRE(g.contains("emb_g.weight"));
  REQUIRE(g.contains("dec.ups.0.weight_g"));
  REQUIRE(g.contains("enc_q.enc.cond_layer.weight_v"));
  REQUIRE(g.metadata().at("step") == "100");
  REQUIRE(g.metadata().at("epoch") == "3");
  REQUIRE(std::stod(g.metadata().at("learning_rate")) == 2e-4);  // shortest round-trip text ("2e-04")
  REQUIRE(g.keys().size() == chord::io::state_dict(*saved->generator).size());
  chord::io::SafetensorsReader wd(dir / "WD_100.safetensors");
  REQUIRE(wd.contains("pre.weight_g"));
  REQUIRE(wd.contains("convs.0.weight_v"));
  REQUIRE(wd.contains("conv_post.bias"));
  for (const auto& key : wd.keys()) {
    INFO(key);
    REQUIRE(key.rfind("wavlm.", 0) == std::string::npos);
    REQUIRE(key.rfind("wd.", 0) == std::string::npos);
    REQUIRE(key.rfind("resample.", 0) == std::string::npos);
  }
  chord::io::SafetensorsReader d(dir / "D_100.safetensors");
  REQUIRE(d.contains("discriminators.0.convs.0.weight_v"));

  torch::manual_seed(2);
  chord::GanModel<Full> loaded(tiny_gan_options<Full>());
  const auto wavlm_before = chord::io::state_dict(*loaded->module_of(chord::disc::WavLM{})->wavlm);
  const auto expected = file_tensors(saved);
  REQUIRE(differing(expected, file_tensors(loaded)).size() > expected.size() / 2);  // the load has work to do

  const auto report = bv2::load_model_files(loaded, dir);
  REQUIRE(differing(expected, file_tensors(loaded)).empty());
  REQUIRE(report.step == 100);
  REQUIRE(report.epoch == 3);
  REQUIRE(report.files.size() == 4);
  REQUIRE(report.files[0].prefix == "G");
  for (const auto& file : report.files) REQUIRE(file.report.clean());
  REQUIRE(report.kept_initial.empty());
  REQUIRE(report.absent.empty());
  REQUIRE(report.skipped.empty());
  // The frozen WavLM is not part of WD_<step> (it comes from its own weights file) and was not touched.
  for (const auto& [key, tensor] : chord::io::state_dict(*loaded->module_of(chord::disc::WavLM{})->wavlm)) {
    REQUIRE(torch::equal(tensor, wavlm_before.at(key)));
  }

  // One file loads into the network its name says.
  torch::manual_seed(3);
  chord::GanModel<Full> one(tiny_gan_options<Full>());
  const auto d_only = bv2::load_model_files(one, dir / "D_100.safetensors");
  REQUIRE(d_only.files.size() == 1);
  REQUIRE(d_only.files[0].prefix == "D");
  REQUIRE(d_only.step == 100);
  const auto after = file_tensors(one);
  for (const auto& key : differing(expected, after)) REQUIRE(key.rfind("D ", 0) == std::string::npos);
  REQUIRE(torch::equal(after.at("D discriminators.0.conv_post.weight_v"), expected.at("D discriminators.0.conv_post.weight_v")));
}

TEST_CASE("the keep budget is per prefix: D files do not use up DUR's", "[bert_vits2][checkpoints]") {
  torch::manual_seed(4);
  chord::GanModel<Full> model(tiny_gan_options<Full>());
  const auto options = bv2::SaveModelOptions().keep(2);

  SECTION("step 0 (the base model) kept outside the budget, as the reference") {
    const auto dir = chord::test::scratch_dir("bert_vits2_checkpoints_keep");
    // A damaged file neither counts toward the budget nor is deleted.
    { std::ofstream(dir / "D_5.safetensors") << "not a safetensors file"; }
    std::vector<std::filesystem::path> removed;
    for (int64_t step : {0, 10, 20, 30, 40}) {
      const auto saved = bv2::save_model_files(model, dir, step, options);
      removed.insert(removed.end(), saved.removed.begin(), saved.removed.end());
    }
    // The reference's clean_checkpoints selects startswith("D"), so D_ and DUR_ share one budget: run on
    // this sequence (keep 2, by mtime) it leaves D_0, D_40, DUR_0, DUR_40 only. Here each keeps its own two.
    REQUIRE(steps_of(dir, "G") == std::set<int64_t>{0, 30, 40});
    REQUIRE(steps_of(dir, "DUR") == std::set<int64_t>{0, 30, 40});
    REQUIRE(steps_of(dir, "D") == std::set<int64_t>{0, 5, 30, 40});
    REQUIRE(steps_of(dir, "WD") == std::set<int64_t>{0, 30, 40});
    REQUIRE(removed.size() == 8);  // steps 10 and 20 of four prefixes
    REQUIRE(std::filesystem::exists(dir / "D_5.safetensors"));
  }
  SECTION("keep_step_zero(false): step 0 counts like any other") {
    const auto dir = chord::test::scratch_dir("bert_vits2_checkpoints_keep_zero");
    for (int64_t step : {0, 10, 20}) bv2::save_model_files(model, dir, step, bv2::SaveModelOptions(options).keep_step_zero(false));
    for (const char* prefix : {"G", "D", "DUR", "WD"}) REQUIRE(steps_of(dir, prefix) == std::set<int64_t>{10, 20});
  }
  SECTION("keep(0) keeps everything; the file just written is never deleted") {
    const auto dir = chord::test::scratch_dir("bert_vits2_checkpoints_keep_all");
    for (int64_t step : {10, 20, 30}) bv2::save_model_files(model, dir, step, bv2::SaveModelOptions().keep(0));
    REQUIRE(steps_of(dir, "DUR") == std::set<int64_t>{10, 20, 30});
    // Saving an older step (a restarted run) with keep(1): the newer files stay by number, the one just
    // written stays too.
    bv2::save_model_files(model, dir, 5, bv2::SaveModelOptions().keep(1));
    REQUIRE(steps_of(dir, "G") == std::set<int64_t>{5, 30});
  }
}

TEST_CASE("a base-model start with another speaker count keeps emb_g's fresh initialisation, when asked", "[bert_vits2][checkpoints]") {
  const auto dir = chord::test::scratch_dir("bert_vits2_checkpoints_speakers");
  torch::manual_seed(5);
  chord::GanModel<Full> base(tiny_gan_options<Full>(bv2::SynthesizerOptions::tiny(4)));
  bv2::save_model_files(base, dir, 0);
  const auto expected = file_tensors(base);

  torch::manual_seed(6);
  chord::GanModel<Full> fine_tune(tiny_gan_options<Full>(bv2::SynthesizerOptions::tiny(6)));
  const auto fresh = file_tensors(fine_tune);

  // Strict by default: the speaker table's shape names itself and the way out.
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_model_files(fine_tune, dir), "'emb_g.weight' is [4, 32] in the file and [6, 32] in the model");
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_model_files(fine_tune, dir), "new_speakers(true)");
  REQUIRE(differing(fresh, file_tensors(fine_tune)).empty());  // nothing was loaded

  const auto report = bv2::load_model_files(fine_tune, dir, bv2::LoadModelOptions().new_speakers(true));
  REQUIRE(report.kept_initial.size() == 1);
  REQUIRE(report.kept_initial[0].find("emb_g.weight") != std::string::npos);
  REQUIRE(report.kept_initial[0].find("4 speakers, the model 6") != std::string::npos);
  REQUIRE(report.describe().find("emb_g.weight") != std::string::npos);
  const auto now = file_tensors(fine_tune);
  REQUIRE(torch::equal(now.at("G emb_g.weight"), fresh.at("G emb_g.weight")));
  for (const auto& [key, tensor] : now) {
    if (key == "G emb_g.weight") continue;
    INFO(key);
    REQUIRE(torch::equal(tensor, expected.at(key)));
  }

  SECTION("a published base model ships G_0, D_0, DUR_0 and no WD_0") {
    std::filesystem::remove(dir / "WD_0.safetensors");
    torch::manual_seed(7);
    chord::GanModel<Full> start(tiny_gan_options<Full>(bv2::SynthesizerOptions::tiny(6)));
    const auto wd_fresh = chord::io::state_dict(*start->module_of(chord::disc::WavLM{})->wd);
    CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_model_files(start, dir, bv2::LoadModelOptions().new_speakers(true)), "WD_0.safetensors");
    const auto r = bv2::load_model_files(start, dir, bv2::LoadModelOptions().new_speakers(true).allow_missing_members(true));
    REQUIRE(r.absent == std::vector<std::string>{"WD"});
    REQUIRE(r.files.size() == 3);
    for (const auto& [key, tensor] : chord::io::state_dict(*start->module_of(chord::disc::WavLM{})->wd)) {
      REQUIRE(torch::equal(tensor, wd_fresh.at(key)));
    }
    REQUIRE(torch::equal(chord::io::state_dict(*start->generator).at("dec.conv_pre.weight"), expected.at("G dec.conv_pre.weight")));
  }
}

TEST_CASE("a file of another configuration names the first mismatched key and both shapes; nothing loads", "[bert_vits2][checkpoints]") {
  const auto dir = chord::test::scratch_dir("bert_vits2_checkpoints_configuration");
  torch::manual_seed(8);
  chord::GanModel<Full> saved(tiny_gan_options<Full>());
  bv2::save_model_files(saved, dir, 10);

  SECTION("generator") {
    chord::GanModel<Full> other(tiny_gan_options<Full>(bv2::SynthesizerOptions::tiny().hidden_channels(32)));
    const auto before = file_tensors(other);
    CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_model_files(other, dir),
                                   "G_10.safetensors' does not fit this model (a checkpoint of another configuration?): first mismatched key "
                                   "'enc_p.emb.weight' is [112, 64] in the file and [112, 32] in the model");
    REQUIRE(differing(before, file_tensors(other)).empty());
  }
  SECTION("a member: the generator, checked first and fitting, is not loaded either") {
    auto options = tiny_gan_options<Full>();
    options.discriminators.get<chord::disc::MultiPeriod>().options.period_channels({4, 8, 16, 32, 64});
    torch::manual_seed(9);
    chord::GanModel<Full> other(options);
    const auto before = file_tensors(other);
    CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_model_files(other, dir), "D_10.safetensors' does not fit this model");
    CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_model_files(other, dir), "first mismatched key 'discriminators.1.convs.4.weight_g' is [32, 1, 1, 1] in the file and [64, 1, 1, 1] in the model");
    REQUIRE(differing(before, file_tensors(other)).empty());
  }
  SECTION("non-strict: what fits loads, the rest is reported (the reference's lenient load)") {
    chord::GanModel<Full> other(tiny_gan_options<Full>(bv2::SynthesizerOptions::tiny(6)));
    const auto report = bv2::load_model_files(other, dir, bv2::LoadModelOptions().strict(false));
    REQUIRE(report.files[0].report.mismatched.size() == 1);
    REQUIRE(report.files[0].report.mismatched[0].key == "emb_g.weight");
    REQUIRE(torch::equal(chord::io::state_dict(*other->generator).at("enc_p.emb.weight"), file_tensors(saved).at("G enc_p.emb.weight")));
  }
}

TEST_CASE("damaged files: refused by name when given, passed over (and reported) when resuming a folder", "[bert_vits2][checkpoints]") {
  const auto dir = chord::test::scratch_dir("bert_vits2_checkpoints_damaged");
  torch::manual_seed(10);
  chord::GanModel<Full> model(tiny_gan_options<Full>());
  bv2::save_model_files(model, dir, 10);
  bv2::save_model_files(model, dir, 20);

  truncate_to_half(dir / "DUR_20.safetensors");
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_model_files(model, dir / "DUR_20.safetensors"), "DUR_20.safetensors");
  auto report = bv2::load_model_files(model, dir);
  REQUIRE(report.step == 10);
  REQUIRE(report.skipped.size() == 1);
  REQUIRE(report.skipped[0].find("DUR_20.safetensors") != std::string::npos);
  INFO(report.skipped[0]);
  REQUIRE(report.skipped[0].find("reach past the data section") != std::string::npos);  // cut short

  { std::ofstream(dir / "G_20.safetensors", std::ios::trunc) << "garbage"; }
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_model_files(model, dir / "G_20.safetensors"), "G_20.safetensors");
  report = bv2::load_model_files(model, dir);
  REQUIRE(report.step == 10);
  REQUIRE(report.skipped[0].find("G_20.safetensors") != std::string::npos);
  // Asking for the damaged step fails, naming the file.
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_model_files(model, dir, bv2::LoadModelOptions().step(20)), "G_20.safetensors");

  truncate_to_half(dir / "G_10.safetensors");
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_model_files(model, dir), "no complete set of Bert-VITS2 model files");
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_model_files(model, dir), "G_10.safetensors");
}

TEST_CASE("a generator written by the reference (utils.save_checkpoint, converted) loads strictly; chord's goes the other way",
          "[bert_vits2][checkpoints][parity]") {
  const auto fixture = chord::test::fixture_tensors("bert_vits2_G_small.safetensors");
  REQUIRE(fixture.size() == 612);

  torch::manual_seed(11);
  bv2::Synthesizer generator(small_options());
  REQUIRE(chord::io::state_dict(*generator).size() == fixture.size());
  const auto report = bv2::load_generator_file(generator, chord::test::fixture("bert_vits2_G_small.safetensors"));
  REQUIRE(report.clean());
  REQUIRE(report.loaded.size() == fixture.size());
  for (const auto& [key, tensor] : chord::io::state_dict(*generator)) {
    INFO(key);
    REQUIRE(chord::test::max_abs_diff(tensor, fixture.at(key)) == 0.0);
  }

  // Through a GanModel: a file of any other name goes to the generator; step and epoch from the metadata.
  torch::manual_seed(12);
  chord::GanModel<MpdOnly> model(tiny_gan_options<MpdOnly>(small_options()));
  const auto files = bv2::load_model_files(model, chord::test::fixture("bert_vits2_G_small.safetensors"));
  REQUIRE(files.step == 1000);
  REQUIRE(files.epoch == 7);
  REQUIRE(torch::equal(chord::io::state_dict(*model->generator).at("flow.flows.0.enc.attn_layers.0.emb_rel_k"),
                       fixture.at("flow.flows.0.enc.attn_layers.0.emb_rel_k")));

  // chord's own G file at the small configuration, for the fixture script's `--chord-file` check
  // (to-pth, then the reference's utils.load_checkpoint; see the script's docstring).
  const auto out = chord::test::scratch_dir("bert_vits2_checkpoints_reference");
  torch::manual_seed(13);
  chord::GanModel<MpdOnly> fresh(tiny_gan_options<MpdOnly>(small_options()));
  bv2::save_model_files(fresh, out, 7, bv2::SaveModelOptions().epoch(2));
  REQUIRE(chord::io::SafetensorsReader(out / "G_7.safetensors").keys().size() == fixture.size());
}

TEST_CASE("at the 2.3 sizes every model file holds the reference's keys and shapes (net_g, net_d, net_dur_disc, net_wd)",
          "[bert_vits2][checkpoints][parity]") {
  // `<prefix> <key> <d0,d1,...>` lines written by make_bert_vits2_checkpoint_fixtures.py from the reference's classes.
  const auto reference = chord::test::read_key_shapes("bert_vits2_checkpoint_keys.txt", /*prefixed=*/true);
  std::set<std::string> prefixes;
  for (const auto& [key, shape] : reference) prefixes.insert(key.substr(0, key.find('.')));
  REQUIRE(prefixes == std::set<std::string>{"D", "DUR", "G", "WD"});
  REQUIRE(reference.at("G.emb_g.weight") == std::vector<int64_t>{850, 512});

  // The shipped configuration; only the frozen WavLM (not in any file) is shrunk to keep the test light.
  chord::GanModelOptions<Full> options(bv2::SynthesizerOptions::v2_3(850));
  options.discriminators.get<chord::disc::WavLM>().wavlm = tiny_gan_options<Full>().discriminators.get<chord::disc::WavLM>().wavlm;
  torch::NoGradGuard no_grad;
  chord::GanModel<Full> model(options);
  for (const auto& slot : bv2::detail::model_file_slots(model)) {
    INFO(slot.prefix);
    // what save_model_files writes
    chord::test::require_same_key_shapes(chord::test::keys_under(reference, slot.prefix), *slot.module);
  }
}
