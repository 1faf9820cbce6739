// Bert-VITS2's data pipeline against fishaudio/Bert-VITS2 8f7fbd8 (tests/parity/make_bert_vits2_data_fixtures.py):
// the symbol table, Python's seeded shuffle, the loader's filter and lengths, get_text / get_audio items,
// the collate, the spectrogram features and the DistributedBucketSampler; plus hand-computed checks of
// what a fixture would not catch (error messages, missing BERT files, padding).
#include "support.hpp"

#include <chord/systems/bert_vits2/filelist.hpp>
#include <chord/systems/bert_vits2/item.hpp>
#include <chord/systems/bert_vits2/spectrogram.hpp>
#include <chord/systems/bert_vits2/symbols.hpp>
#include <chord/train/samplers.hpp>

#include <fstream>
#include <numeric>
#include <utility>

namespace bv2 = chord::systems::bert_vits2;
using chord::test::max_abs_diff;

namespace {

const std::string kFixture = "bert_vits2_data.safetensors";

std::string bytes_to_string(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<size_t>(c.numel()));
}

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

/// A 16-bit mono PCM WAV with the canonical 44-byte header (what scipy.io.wavfile.write produces).
void write_pcm16_wav(const std::filesystem::path& path, const torch::Tensor& samples, int32_t rate) {
  auto data = samples.to(torch::kShort).contiguous();
  const auto bytes = static_cast<uint32_t>(data.numel() * 2);
  std::ofstream out(path, std::ios::binary);
  auto u32 = [&](uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  out.write("RIFF", 4);
  u32(36 + bytes);
  out.write("WAVEfmt ", 8);
  u32(16);
  u16(1);  // PCM
  u16(1);  // mono
  u32(static_cast<uint32_t>(rate));
  u32(static_cast<uint32_t>(rate) * 2);
  u16(2);
  u16(16);
  out.write("data", 4);
  u32(bytes);
  out.write(reinterpret_cast<const char*>(data.data_ptr<int16_t>()), bytes);
}

/// The fixture's filelist and WAVs written to a scratch folder; returns the filelist path.
std::filesystem::path write_fixture_dataset(const chord::io::TensorMap& f, const std::string& name) {
  const auto dir = chord::test::scratch_dir(name);
  const auto list = dir / "train.list";
  std::ofstream(list, std::ios::binary) << bytes_to_string(f.at("filelist.utf8"));
  for (int i = 0; i < 8; ++i) {
    const auto wav = dir / ("a" + std::to_string(i) + ".wav");
    write_pcm16_wav(wav, f.at("wav" + std::to_string(i) + ".samples"), 44100);
    REQUIRE(static_cast<int64_t>(std::filesystem::file_size(wav)) == f.at("wav" + std::to_string(i) + ".bytes").item<int64_t>());
  }
  return list;
}

const bv2::SpeakerMap kSpeakers{{"spkA", 3}, {"spkB", 7}};

bv2::FilelistOptions fixture_filelist_options() {
  bv2::FilelistOptions options;
  options.min_text_len = 3;
  options.max_text_len = 30;
  return options;
}

}  // namespace

TEST_CASE("the Bert-VITS2 symbol table, tone offsets and language ids match text/symbols.py", "[bert_vits2][data][parity]") {
  auto f = chord::test::fixture_tensors(kFixture);
  std::string joined;
  for (const auto& s : bv2::symbols()) joined += (joined.empty() ? "" : "\n") + s;
  REQUIRE(joined == bytes_to_string(f.at("symbols.utf8")));
  REQUIRE(bv2::symbols().size() == 112);
  REQUIRE(to_vector(f.at("tone_start")) ==
          std::vector<int64_t>{bv2::tone_start(bv2::Language::zh), bv2::tone_start(bv2::Language::jp), bv2::tone_start(bv2::Language::en)});
  REQUIRE(f.at("num_tones").item<int64_t>() == bv2::num_tones);
  REQUIRE(to_vector(f.at("language_ids")) ==
          std::vector<int64_t>{bv2::language_id(bv2::Language::zh), bv2::language_id(bv2::Language::jp), bv2::language_id(bv2::Language::en)});
  REQUIRE(to_vector(f.at("sil_ids")) == bv2::silence_phoneme_ids());
}

TEST_CASE("cleaned_text_to_sequence adds the language's tone offset and refuses what it cannot map", "[bert_vits2][data]") {
  // EN tones start at 6 + 2 = 8; "_" is id 0 (the pad), "SP" the second-to-last symbol
  auto seq = bv2::cleaned_text_to_sequence({"_", "hh", "SP"}, {0, 3, 0}, bv2::Language::en);
  REQUIRE(seq.phones == std::vector<int64_t>{0, bv2::symbol_id("hh"), 110});
  REQUIRE(seq.tones == std::vector<int64_t>{8, 11, 8});
  REQUIRE(seq.languages == std::vector<int64_t>{2, 2, 2});
  REQUIRE(bv2::symbols()[static_cast<size_t>(bv2::symbol_id("hh"))] == "hh");
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::cleaned_text_to_sequence({"a", "xyz"}, {0, 0}, bv2::Language::zh), "unknown Bert-VITS2 phone 'xyz'");
  // JP has two tones: tone 2 would index EN's first tone
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::cleaned_text_to_sequence({"a", "k"}, {1, 2}, bv2::Language::jp), "tone 2 of phone 'k'");
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::cleaned_text_to_sequence({"a"}, {-1}, bv2::Language::zh), "outside [0, 6)");
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::cleaned_text_to_sequence({"a"}, {0, 1}, bv2::Language::zh), "1 phones but 2 tones");
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::parse_language("KO"), "unknown Bert-VITS2 language 'KO'");
  REQUIRE(bv2::intersperse({5, 6}, 0) == std::vector<int64_t>{0, 5, 0, 6, 0});
  REQUIRE(bv2::intersperse({}, 0) == std::vector<int64_t>{0});
}

TEST_CASE("PythonRandom shuffles like random.seed(1234); random.shuffle", "[bert_vits2][data][parity]") {
  auto f = chord::test::fixture_tensors(kFixture);
  for (int64_t n : {1, 2, 7, 100, 1000}) {
    INFO("n = " << n);
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    bv2::PythonRandom(1234).shuffle(order);
    REQUIRE(order == to_vector(f.at("shuffle.n" + std::to_string(n))));
  }
  // the seed matters (a generator that ignored it would pass the cases above only by accident)
  std::vector<int64_t> a(50), b(50);
  std::iota(a.begin(), a.end(), 0);
  std::iota(b.begin(), b.end(), 0);
  bv2::PythonRandom(1234).shuffle(a);
  bv2::PythonRandom(1235).shuffle(b);
  REQUIRE(a != b);
}

TEST_CASE("filelist lines are parsed and checked with file and line in every error", "[bert_vits2][data]") {
  auto entry = bv2::parse_filelist_line("x/a.wav|spk|JP|text|_ k o N \xE2\x80\xA6 _|0 0 1 1 0 0|1 2 1 1 1\r\n", "l.list", 4, "/data");
  REQUIRE(entry.wav == std::filesystem::path("/data/x/a.wav"));
  REQUIRE(entry.language == bv2::Language::jp);
  REQUIRE(entry.phones == std::vector<std::string>{"_", "k", "o", "N", "\xE2\x80\xA6", "_"});
  REQUIRE(entry.tones == std::vector<int64_t>{0, 0, 1, 1, 0, 0});
  REQUIRE(entry.word2ph == std::vector<int64_t>{1, 2, 1, 1, 1});
  REQUIRE(entry.phone_field_length == 11);  // code points, as Python's len(str)
  REQUIRE(bv2::parse_filelist_line("/abs.wav|s|ZH|t|a|1|1", "l", 1, "/data").wav == std::filesystem::path("/abs.wav"));

  auto fails = [](const std::string& line, const std::string& text) {
    INFO(line);
    CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::parse_filelist_line(line, "l.list", 9), "filelist 'l.list' line 9: ");
    CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::parse_filelist_line(line, "l.list", 9), text);
  };
  fails("a.wav|s|ZH|t|a|1", "6 '|'-separated fields, expected 7");
  fails("a.wav|s|ZH|t|a b|1 x|1 1", "tones field holds 'x'");
  fails("a.wav|s|ZH|t|a b|1 1|2.5", "word2ph field holds '2.5'");
  fails("a.wav|s|ZH|t|a b|1|2", "2 phones but 1 tones");
  fails("a.wav|s|ZH|t|a b|1 1|1 2", "word2ph sums to 3 but there are 2 phones");
  fails("a.wav|s|ZH|t|a  b|1 1|2", "empty phone");
  fails("a.wav|s|DE|t|a|1|1", "unknown Bert-VITS2 language 'DE'");
  fails("a.wav|s|ZH|t|a qq|1 1|2", "unknown Bert-VITS2 phone 'qq'");
  fails("a.wav|s|EN|t|aa|4|1", "tone 4 of phone 'aa'");
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::read_filelist("/nonexistent/x.list"), "cannot open filelist '/nonexistent/x.list'");
}

TEST_CASE("the speaker map comes from data.spk2id", "[bert_vits2][data]") {
  auto config = nlohmann::json::parse(R"({"data": {"n_speakers": 4, "spk2id": {"a": 0, "b": 3}}})");
  REQUIRE(bv2::speaker_map_from_config(config) == bv2::SpeakerMap{{"a", 0}, {"b", 3}});
  config["data"]["spk2id"]["c"] = 4;
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::speaker_map_from_config(config), "data.spk2id[\"c\"] = 4 is outside");
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::speaker_map_from_config(nlohmann::json::parse(R"({"data": {}})")), "no object data.spk2id");
}

TEST_CASE("prepare_filelist shuffles, filters and measures like TextAudioSpeakerLoader", "[bert_vits2][data][parity]") {
  auto f = chord::test::fixture_tensors(kFixture);
  const auto list = write_fixture_dataset(f, "bert_vits2_data_loader");
  auto entries = bv2::read_filelist(list, list.parent_path());
  REQUIRE(entries.size() == 8);
  auto prepared = bv2::prepare_filelist(entries, fixture_filelist_options(), &kSpeakers);
  std::vector<int64_t> order;
  for (const auto& e : prepared.entries) order.push_back(static_cast<int64_t>(e.line) - 1);
  REQUIRE(order == to_vector(f.at("loader.order")));
  REQUIRE(prepared.lengths == to_vector(f.at("loader.lengths")));
  REQUIRE(static_cast<int64_t>(prepared.report.too_short + prepared.report.too_long) == f.at("loader.skipped").item<int64_t>());
  REQUIRE(prepared.report.read == 8);
  REQUIRE(prepared.report.too_short == 1);  // "_": 1 character < 3
  REQUIRE(prepared.report.too_long == 1);   // 37 characters > 30 (the "…" line has 29 code points, 55 bytes: kept)
  REQUIRE(prepared.report.kept == 6);

  // unknown speaker and missing WAV of a kept line are named
  auto unknown = entries;
  unknown[0].speaker = "nobody";
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::prepare_filelist(unknown, fixture_filelist_options(), &kSpeakers),
                                 "line 1: speaker 'nobody' is not in the config's data.spk2id");
  auto missing = entries;
  missing[6].wav = list.parent_path() / "gone.wav";
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::prepare_filelist(missing, fixture_filelist_options()), "line 7: cannot read the size of WAV");
  // a dropped line is not opened, as in the reference
  auto dropped = entries;
  dropped[4].wav = list.parent_path() / "gone.wav";
  REQUIRE(bv2::prepare_filelist(dropped, fixture_filelist_options()).report.kept == 6);

  auto drops = bv2::count_bucket_drops({3, 32, 33, 1000, 1001, 500}, {32, 300, 1000});
  REQUIRE(drops.too_short == 2);
  REQUIRE(drops.too_long == 1);
}

TEST_CASE("items and their collate match TextAudioSpeakerLoader and TextAudioSpeakerCollate", "[bert_vits2][data][parity]") {
  auto f = chord::test::fixture_tensors(kFixture);
  const auto list = write_fixture_dataset(f, "bert_vits2_data_items");
  auto prepared = bv2::prepare_filelist(bv2::read_filelist(list, list.parent_path()), fixture_filelist_options(), &kSpeakers);
  // the BERT features the reference loaded from .bert.pt, as chord's .bert.safetensors
  for (int k = 0; k < 3; ++k) {
    const auto index = static_cast<size_t>(f.at("item" + std::to_string(k) + ".index").item<int64_t>());
    chord::io::save_safetensors(bv2::bert_path(prepared.entries[index].wav), {{"bert", f.at("item" + std::to_string(k) + ".bert_ori")}});
  }
  bv2::ItemOptions options;
  options.missing_bert = bv2::MissingBert::error;
  bv2::TextAudioSpeakerDataset dataset(prepared, kSpeakers, bv2::SpectrogramConfig::v2_3(), options);
  REQUIRE(dataset.lengths() == to_vector(f.at("loader.lengths")));

  std::vector<bv2::Item> items;
  for (int k = 0; k < 3; ++k) {
    const std::string p = "item" + std::to_string(k) + ".";
    INFO(p);
    auto gen = chord::make_generator(100 + static_cast<uint64_t>(k));
    auto item = dataset.get(static_cast<size_t>(f.at(p + "index").item<int64_t>()), gen);
    REQUIRE(torch::equal(item.phones, f.at(p + "phones")));
    REQUIRE(torch::equal(item.tones, f.at(p + "tone")));
    REQUIRE(torch::equal(item.languages, f.at(p + "language")));
    REQUIRE(torch::equal(item.sid, f.at(p + "sid")));
    // the loaded features fill the language's slot; the other two are the reference's randn draws
    const std::vector<std::pair<std::string, torch::Tensor>> streams{{"bert", item.bert}, {"ja_bert", item.ja_bert}, {"en_bert", item.en_bert}};
    for (const auto& [name, tensor] : streams) {
      INFO(name);
      const auto& expected = f.count(p + name) ? f.at(p + name) : f.at(p + "bert_ori");
      REQUIRE(max_abs_diff(tensor, expected) == 0.0);  // same CPU generator stream, no arithmetic
    }
    items.push_back(item);
  }

  auto batch = bv2::collate(items);
  REQUIRE(torch::equal(batch.order, f.at("collate.order")));  // the tie (7 frames twice) falls the same way
  const std::vector<std::pair<std::string, torch::Tensor>> exact{
      {"text_padded", batch.text_padded},   {"text_lengths", batch.text_lengths}, {"spec_lengths", batch.spec_lengths},
      {"wav_lengths", batch.wav_lengths},   {"sid", batch.sid},                   {"tone_padded", batch.tone_padded},
      {"language_padded", batch.language_padded}, {"wav_padded", batch.wav_padded}};
  for (const auto& [name, tensor] : exact) {
    INFO(name);
    REQUIRE(tensor.scalar_type() == f.at("collate." + name).scalar_type());
    REQUIRE(torch::equal(tensor, f.at("collate." + name)));  // int16 / 32768 is exact in float32
  }
  // fp32 STFT through the same ATen kernels; 1e-4 leaves room for a different FFT backend build
  REQUIRE(max_abs_diff(batch.spec_padded, f.at("collate.spec_padded")) < 1e-4);
  REQUIRE(batch.tensors().size() == 12);
  for (int64_t row = 0; row < 3; ++row) {
    const std::string p = "item" + std::to_string(batch.order[row].item<int64_t>()) + ".";
    const int64_t n = batch.text_lengths[row].item<int64_t>();
    const std::vector<std::pair<std::string, torch::Tensor>> streams{{"bert", batch.bert_padded}, {"ja_bert", batch.ja_bert_padded}, {"en_bert", batch.en_bert_padded}};
    for (const auto& [name, padded] : streams) {
      INFO(name);
      const auto& expected = f.count(p + name) ? f.at(p + name) : f.at(p + "bert_ori");
      REQUIRE(torch::equal(padded[row].narrow(1, 0, n), expected));
      REQUIRE(padded[row].narrow(1, n, padded.size(2) - n).abs().sum().item<double>() == 0.0);
    }
  }
}

TEST_CASE("get_text doubles word2ph, pads BERT-less items with zeros or refuses them", "[bert_vits2][data]") {
  auto gen = chord::make_generator(0);
  auto bert = torch::arange(2 * 7, torch::kFloat32).reshape({2, 7});
  auto text = bv2::get_text({"_", "n", "_"}, {0, 2, 0}, {1, 1, 1}, bv2::Language::zh, bert, /*add_blank=*/true, gen);
  REQUIRE(text.word2ph == std::vector<int64_t>{3, 2, 2});  // ×2, +1 on the first: sums to 2·3 + 1
  REQUIRE(to_vector(text.phones) == std::vector<int64_t>{0, 0, 0, bv2::symbol_id("n"), 0, 0, 0});
  REQUIRE(to_vector(text.tones) == std::vector<int64_t>{0, 0, 0, 2, 0, 0, 0});
  REQUIRE(torch::equal(text.bert, bert));
  REQUIRE(text.ja_bert.sizes() == torch::IntArrayRef({2, 7}));
  REQUIRE(!torch::equal(text.ja_bert, text.en_bert));
  auto plain = bv2::text_ids({"_", "n", "_"}, {0, 1, 0}, {1, 1, 1}, bv2::Language::jp, /*add_blank=*/false);
  REQUIRE(to_vector(plain.tones) == std::vector<int64_t>{6, 7, 6});  // JP tones start at 6
  REQUIRE(plain.word2ph == std::vector<int64_t>{1, 1, 1});
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::get_text({"a"}, {1}, {1}, bv2::Language::zh, torch::zeros({4, 2}), true, gen), "n = 3");

  // on disk: a missing .bert.safetensors gives zeros (or an error naming it); a wrong shape is refused
  const auto dir = chord::test::scratch_dir("bert_vits2_data_missing_bert");
  write_pcm16_wav(dir / "x.wav", (torch::randn({3000}) * 3000).to(torch::kShort), 44100);
  auto entry = bv2::parse_filelist_line("x.wav|s|EN|t|_ aa _|0 1 0|1 1 1", dir / "l.list", 1, dir);
  bv2::MelProcessing processing;
  bv2::ItemOptions options;
  auto item = bv2::load_item(entry, {{"s", 5}}, processing, options, gen);
  REQUIRE(item.en_bert.sizes() == torch::IntArrayRef({1024, 7}));
  REQUIRE(item.en_bert.abs().sum().item<double>() == 0.0);
  REQUIRE(item.bert.abs().sum().item<double>() > 0.0);
  REQUIRE(item.spec.sizes() == torch::IntArrayRef({1025, 3000 / 512}));
  REQUIRE(item.wav.sizes() == torch::IntArrayRef({1, 3000}));
  REQUIRE(item.sid.item<int64_t>() == 5);
  options.missing_bert = bv2::MissingBert::error;
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_item(entry, {{"s", 5}}, processing, options, gen), "no BERT features '");
  chord::io::save_safetensors(bv2::bert_path(entry.wav), {{"bert", torch::zeros({1024, 3})}});
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_item(entry, {{"s", 5}}, processing, options, gen), "bert [1024, 7]");
  REQUIRE(bv2::bert_path(entry.wav) == dir / "x.bert.safetensors");
  REQUIRE(bv2::reference_bert_path(entry.wav) == dir / "x.bert.pt");
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_item(entry, {{"t", 5}}, processing, options, gen), "speaker 's' is not in");
  write_pcm16_wav(dir / "y.wav", torch::zeros({3000}), 22050);
  auto wrong_rate = bv2::parse_filelist_line("y.wav|s|EN|t|_ aa _|0 1 0|1 1 1", dir / "l.list", 2, dir);
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::load_item(wrong_rate, {{"s", 5}}, processing, bv2::ItemOptions{}, gen), "sampled at 22050 Hz");
}

TEST_CASE("linear spectrograms are cached per file and STFT setting, and a damaged entry is recomputed", "[bert_vits2][data]") {
  const auto dir = chord::test::scratch_dir("bert_vits2_spectrogram_cache");
  write_pcm16_wav(dir / "x.wav", (torch::randn({5000}, chord::make_generator(3)) * 3000).to(torch::kShort), 44100);
  const auto wav = dir / "x.wav";
  bv2::MelProcessing processing;
  const auto uncached = bv2::get_audio(wav, processing).second;
  const chord::data::FeatureCache cache(dir / "cache", bv2::spectrogram_cache_key(processing.config()));
  const auto entry = cache.cache_path(wav);
  REQUIRE_FALSE(std::filesystem::exists(entry));
  REQUIRE(torch::equal(bv2::get_audio(wav, processing, &cache).second, uncached));  // a miss: computed and stored
  REQUIRE(std::filesystem::exists(entry));
  // A hit reads the stored tensor: replaced by a marked one of the right shape, the marked one comes back.
  chord::io::save_safetensors(entry, {{"features", torch::full_like(uncached, 7.0f)}});
  REQUIRE(bv2::get_audio(wav, processing, &cache).second.eq(7.0f).all().item<bool>());
  // A damaged entry is recomputed and replaced; one of another shape is refused, naming the entry.
  std::ofstream(entry, std::ios::binary | std::ios::trunc) << "not a safetensors file";
  REQUIRE(torch::equal(bv2::get_audio(wav, processing, &cache).second, uncached));
  chord::io::save_safetensors(entry, {{"features", torch::zeros({1025, 2})}});
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::get_audio(wav, processing, &cache), "remove " + entry.string());
  // Another STFT setting is another key: never served the first setting's spectrogram.
  auto other_config = processing.config();
  other_config.hop_length = 256;
  REQUIRE(bv2::spectrogram_cache_key(other_config) != bv2::spectrogram_cache_key(processing.config()));
  REQUIRE(chord::data::FeatureCache(dir / "cache", bv2::spectrogram_cache_key(other_config)).cache_path(wav) != entry);
  // Through the dataset: the items' spectrograms equal the uncached ones.
  bv2::ItemOptions options;
  options.spectrogram_cache = std::make_shared<const chord::data::FeatureCache>(dir / "dataset_cache", bv2::spectrogram_cache_key(processing.config()));
  auto gen = chord::make_generator(0);
  const auto line = bv2::parse_filelist_line("x.wav|s|EN|t|_ aa _|0 1 0|1 1 1", dir / "l.list", 1, dir);
  for (int load = 0; load < 2; ++load) REQUIRE(torch::equal(bv2::load_item(line, {{"s", 0}}, processing, options, gen).spec, uncached));
  REQUIRE(std::distance(std::filesystem::directory_iterator(dir / "dataset_cache"), std::filesystem::directory_iterator{}) == 1);
}

TEST_CASE("the reference's torch.save'd .bert.pt files are read too", "[bert_vits2][data][parity]") {
  auto f = chord::test::fixture_tensors(kFixture);
  const auto dir = chord::test::scratch_dir("bert_vits2_data_bert_pt");
  std::ofstream(dir / "z.bert.pt", std::ios::binary) << bytes_to_string(f.at("bertpt.bytes"));
  REQUIRE(!bv2::find_bert(dir / "w.wav", 3, 4));  // neither file
  auto bert = bv2::find_bert(dir / "z.wav", 3, 4);
  REQUIRE(bert);
  REQUIRE(torch::equal(*bert, f.at("bertpt.tensor")));  // a transposed view was saved: strides are honoured
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::find_bert(dir / "z.wav", 5, 4), "bert [4, 5]");
  // chord's own file wins over the reference's
  chord::io::save_safetensors(dir / "z.bert.safetensors", {{"bert", torch::ones({4, 3})}});
  REQUIRE(torch::equal(*bv2::find_bert(dir / "z.wav", 3, 4), torch::ones({4, 3})));
  std::ofstream(dir / "bad.bert.pt", std::ios::binary) << "not a zip";
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::find_bert(dir / "bad.wav", 3, 4), "is not a file written by torch.save");
  // Found by fuzzing: a zip whose directory records point past the end of the file made LibTorch's
  // in-memory reader (pickle_load) read out of bounds; read from the file, it is refused.
  for (const std::string name : {"zip_central_directory_past_end", "zip_central_directory_cut"}) {
    INFO(name);
    const auto found = chord::test::fixture("../fuzz/regressions/bert_features") / name;
    std::filesystem::copy_file(found, dir / (name + ".bert.pt"), std::filesystem::copy_options::overwrite_existing);
    CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::find_bert(dir / (name + ".wav"), 4, 8), "is not a file written by torch.save");
  }
}

TEST_CASE("collate sorts by spectrogram length and zero-pads", "[bert_vits2][data]") {
  auto make = [](int64_t n, int64_t frames, int64_t samples, int64_t sid) {
    bv2::Item item;
    item.phones = torch::full({n}, 5, torch::kLong);
    item.tones = torch::full({n}, 2, torch::kLong);
    item.languages = torch::full({n}, 1, torch::kLong);
    item.spec = torch::ones({3, frames});
    item.wav = torch::ones({1, samples});
    item.sid = torch::tensor({sid}, torch::kLong);
    item.bert = item.ja_bert = item.en_bert = torch::ones({4, n});
    return item;
  };
  auto batch = bv2::collate({make(2, 3, 30, 0), make(4, 5, 50, 1), make(3, 1, 10, 2)});
  REQUIRE(to_vector(batch.order) == std::vector<int64_t>{1, 0, 2});
  REQUIRE(to_vector(batch.sid) == std::vector<int64_t>{1, 0, 2});
  REQUIRE(to_vector(batch.text_lengths) == std::vector<int64_t>{4, 2, 3});
  REQUIRE(to_vector(batch.spec_lengths) == std::vector<int64_t>{5, 3, 1});
  REQUIRE(to_vector(batch.wav_lengths) == std::vector<int64_t>{50, 30, 10});
  REQUIRE(batch.spec_padded.sizes() == torch::IntArrayRef({3, 3, 5}));
  REQUIRE(batch.bert_padded.sizes() == torch::IntArrayRef({3, 4, 4}));
  REQUIRE(batch.wav_padded.sizes() == torch::IntArrayRef({3, 1, 50}));
  REQUIRE(to_vector(batch.text_padded[1]) == std::vector<int64_t>{5, 5, 0, 0});
  REQUIRE(to_vector(batch.tone_padded[2]) == std::vector<int64_t>{2, 2, 2, 0});
  REQUIRE(batch.spec_padded.sum().item<double>() == 3.0 * (5 + 3 + 1));
  REQUIRE(batch.en_bert_padded.sum().item<double>() == 4.0 * (4 + 2 + 3));
  REQUIRE(batch.wav_padded.sum().item<double>() == 90.0);
  auto bad = make(2, 3, 30, 0);
  bad.bert = torch::ones({4, 3});
  REQUIRE_THROWS_WITH(bv2::collate({bad}), Catch::Matchers::Contains("bert [4, 2] expected"));
}

TEST_CASE("spectrogram_torch, mel_spectrogram_torch and spec_to_mel_torch match mel_processing.py", "[bert_vits2][data][parity]") {
  auto f = chord::test::fixture_tensors(kFixture);
  bv2::MelProcessing processing(bv2::SpectrogramConfig::v2_3());
  const auto& wave = f.at("mel.wave");
  auto spec = processing.spectrogram(wave);
  REQUIRE(spec.sizes() == f.at("mel.spec").sizes());
  REQUIRE(spec.size(2) == wave.size(1) / 512);
  REQUIRE(spec.size(2) == processing.config().frames(wave.size(1)));
  REQUIRE(max_abs_diff(spec, f.at("mel.spec")) < 1e-4);
  // log-mel: fp32 log of sums over up to ~40 bins; the basis is built in float64 here, in float32 by librosa
  REQUIRE(max_abs_diff(processing.mel_spectrogram(wave), f.at("mel.mel")) < 1e-4);
  REQUIRE(max_abs_diff(processing.spec_to_mel(f.at("mel.spec")), f.at("mel.mel_from_spec")) < 1e-4);
  REQUIRE(processing.mel_basis().sizes() == torch::IntArrayRef({128, 1025}));

  auto data = nlohmann::json::parse(R"({"sampling_rate": 22050, "filter_length": 1024, "hop_length": 256,
                                        "win_length": 1024, "n_mel_channels": 80, "mel_fmin": 20, "mel_fmax": 8000})");
  bv2::MelProcessing vits1(bv2::SpectrogramConfig::from_json(data));
  REQUIRE(max_abs_diff(vits1.mel_spectrogram(f.at("mel22.wave")), f.at("mel22.mel")) < 1e-4);
  // fmax null → sr/2
  REQUIRE(!bv2::SpectrogramConfig::from_json(nlohmann::json::parse(R"({"mel_fmax": null})")).mel_fmax);
  CHORD_REQUIRE_THROWS_WITH_TEXT(bv2::SpectrogramConfig::from_json(nlohmann::json::parse(R"({"hop_length": 0})")), "data.hop_length");

  // dynamic range compression: natural log with a 1e-5 floor
  auto x = torch::tensor({0.0, 1e-6, 1.0, std::exp(2.0)}, torch::kFloat64);
  auto y = bv2::dynamic_range_compression(x);
  REQUIRE(y[0].item<double>() == Approx(std::log(1e-5)));
  REQUIRE(y[1].item<double>() == Approx(std::log(1e-5)));
  REQUIRE(y[2].item<double>() == 0.0);
  REQUIRE(y[3].item<double>() == Approx(2.0));
  REQUIRE(max_abs_diff(bv2::dynamic_range_decompression(y.slice(0, 2)), x.slice(0, 2)) < 1e-12);
}

TEST_CASE("chord's DistributedBucketSampler matches data_utils.DistributedBucketSampler", "[bert_vits2][data][parity]") {
  auto f = chord::test::fixture_tensors(kFixture);
  const std::vector<int64_t> boundaries{32, 300, 400, 500, 600, 700, 800, 900, 1000};
  struct Case {
    std::string name;
    int64_t batch_size;
    std::vector<std::pair<int64_t, int64_t>> worlds;
    bool shuffle;
    std::vector<int64_t> epochs;
  };
  const std::vector<Case> cases{{"base", 4, {{1, 0}, {3, 0}, {3, 1}, {3, 2}}, true, {1, 2, 3}},
                                {"noshuffle", 3, {{2, 0}, {2, 1}}, false, {1}},
                                {"nofirst", 2, {{1, 0}, {2, 0}, {2, 1}}, true, {1, 7}},
                                {"nomiddle", 5, {{1, 0}, {4, 3}}, true, {2}}};
  int64_t compared = 0;
  for (const auto& c : cases) {
    const auto lengths = to_vector(f.at("sampler." + c.name + ".lengths"));
    for (const auto& [world, rank] : c.worlds) {
      const std::string p = "sampler." + c.name + ".w" + std::to_string(world) + "r" + std::to_string(rank) + ".";
      INFO(p);
      chord::train::DistributedBucketSampler sampler(lengths, c.batch_size, boundaries, world, rank, c.shuffle);
      REQUIRE(sampler.boundaries() == to_vector(f.at(p + "boundaries")));
      REQUIRE(static_cast<int64_t>(sampler.size()) == f.at(p + "len").item<int64_t>());
      for (auto epoch : c.epochs) {
        INFO("epoch " << epoch);
        std::vector<int64_t> flat;
        for (const auto& batch : sampler.batches(epoch)) {
          REQUIRE(static_cast<int64_t>(batch.size()) == c.batch_size);
          flat.insert(flat.end(), batch.begin(), batch.end());
        }
        REQUIRE(flat == to_vector(f.at(p + "e" + std::to_string(epoch))));
        ++compared;
      }
    }
  }
  REQUIRE(compared == 4 * 3 + 2 + 3 * 2 + 2);
}
