// Inputs of the Bert-VITS2 command-line tests (tests/CMakeLists.txt, cli_vits_*), and a check of the
// WAV that chord-vits-infer writes. No Python: the WAVs go through chord's audio I/O and the phones
// come from Bert-VITS2's symbol table (every phone below is looked up, so a table change fails here).
//
//   chord-vits-test-inputs <dir>                               writes dir/wavs/*.wav, train.list, valid.list, bad.list, one_speaker.list,
//                                                              with_bad_audio.list, unknown_option.json
//   chord-vits-test-inputs --check-wav <file> <rate> <samples>  exits 1 unless the file has that rate and length
#include <chord/audio/io.hpp>
#include <chord/core/random.hpp>
#include <chord/systems/bert_vits2/filelist.hpp>
#include <chord/systems/bert_vits2/symbols.hpp>

#include <sndfile.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
namespace bv2 = chord::systems::bert_vits2;

// A 32-bit float WAV written sample for sample, NaN included (chord's writer refuses NaN).
void write_float_wav_as_is(const std::filesystem::path& path, const std::vector<float>& samples, int rate) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  if (file == nullptr) throw std::runtime_error("cannot write " + path.string());
  sf_command(file, SFC_SET_CLIPPING, nullptr, SF_FALSE);
  const auto written = sf_writef_float(file, samples.data(), static_cast<sf_count_t>(samples.size()));
  sf_close(file);
  if (written != static_cast<sf_count_t>(samples.size())) throw std::runtime_error("short write to " + path.string());
}

struct Utterance {
  const char* speaker;
  const char* language;
  const char* text;
  const char* phones;
  const char* tones;
  const char* word2ph;
  double seconds, hz;
};

// A voiced-sounding signal: a few harmonics of `hz` with a slow vibrato and a little noise, 22.05 kHz.
torch::Tensor voice(double seconds, double hz, uint64_t seed) {
  constexpr int64_t rate = 22050;
  const auto n = static_cast<int64_t>(seconds * rate);
  const auto t = torch::arange(n, torch::kFloat64) / static_cast<double>(rate);
  const auto phase = 2.0 * M_PI * hz * t + 0.3 * torch::sin(2.0 * M_PI * 5.0 * t);
  auto x = 0.25 * torch::sin(phase) + 0.1 * torch::sin(2 * phase) + 0.05 * torch::sin(3 * phase);
  auto gen = chord::make_generator(seed);
  x = x + 0.01 * torch::randn({n}, gen, torch::kFloat64);
  return x.to(torch::kFloat32);
}

int write_inputs(const std::filesystem::path& dir) {
  const std::vector<Utterance> utterances{
      {"alice", "EN", "hello", "_ hh ah l ow _", "0 0 1 0 2 0", "1 2 2 1", 1.0, 180.0},
      {"bob", "EN", "world", "_ w er l d _", "0 0 3 0 0 0", "1 2 2 1", 1.2, 120.0},
      {"alice", "ZH", "ni hao", "_ n i h ao _", "0 0 3 0 3 0", "1 2 2 1", 1.1, 210.0},
      {"bob", "EN", "good bye", "_ g uh d b ay _", "0 0 1 0 0 2 0", "1 3 2 1", 1.3, 110.0},
      {"alice", "EN", "hello", "_ hh ah l ow _", "0 0 1 0 2 0", "1 2 2 1", 0.9, 190.0},  // validation
  };
  std::filesystem::create_directories(dir / "wavs");
  std::ofstream train(dir / "train.list"), valid(dir / "valid.list"), bad(dir / "bad.list");
  std::string train_lines, one_speaker_lines;
  for (size_t i = 0; i < utterances.size(); ++i) {
    const auto& u = utterances[i];
    const auto wav = std::filesystem::absolute(dir / "wavs" / ("utt" + std::to_string(i) + ".wav"));
    chord::audio::write_audio(wav, voice(u.seconds, u.hz, 10 + i), 22050);
    const std::string line = wav.string() + "|" + u.speaker + "|" + u.language + "|" + u.text + "|" + u.phones + "|" + u.tones + "|" + u.word2ph;
    (void)bv2::parse_filelist_line(line, "generated", i + 1);  // every phone in the table, tones in range, word2ph sums
    (i < 4 ? train : valid) << line << "\n";
    if (i < 4) train_lines += line + "\n";
    if (i < 2) bad << line << "\n";
    if (i < 4 && std::string(u.speaker) == "alice") one_speaker_lines += line + "\n";
  }
  // A single-speaker filelist (alice's two utterances, twice): a base-model start with another speaker count.
  std::ofstream(dir / "one_speaker.list") << one_speaker_lines << one_speaker_lines;
  // Line 3: a phone that is not in the symbol table.
  bad << std::filesystem::absolute(dir / "wavs" / "utt0.wav").string() << "|alice|EN|hello|_ hh qq l ow _|0 0 1 0 2 0|1 2 2 1\n";
  // The four training lines, then a WAV at another rate (line 5), one shorter than a training segment
  // (line 6) and one with a NaN sample far into it (line 7: only decoding the whole file finds it).
  {
    std::ofstream with_bad(dir / "with_bad_audio.list");
    with_bad << train_lines;
    const auto rate_16k = std::filesystem::absolute(dir / "wavs" / "rate_16k.wav");
    const auto short_wav = std::filesystem::absolute(dir / "wavs" / "short.wav");
    chord::audio::write_audio(rate_16k, voice(1.0, 150.0, 30).narrow(0, 0, 16000), 16000);
    chord::audio::write_audio(short_wav, voice(0.1, 150.0, 31), 22050);
    const auto nan_wav = std::filesystem::absolute(dir / "wavs" / "nan.wav");
    const auto nan_voice = voice(1.0, 150.0, 32).to(torch::kFloat32).contiguous();
    std::vector<float> with_nan(nan_voice.data_ptr<float>(), nan_voice.data_ptr<float>() + nan_voice.numel());
    with_nan[20000] = NAN;
    write_float_wav_as_is(nan_wav, with_nan, 22050);
    with_bad << rate_16k.string() << "|bob|EN|hello|_ hh ah l ow _|0 0 1 0 2 0|1 2 2 1\n"
             << short_wav.string() << "|alice|EN|hello|_ hh ah l ow _|0 0 1 0 2 0|1 2 2 1\n"
             << nan_wav.string() << "|bob|EN|hello|_ hh ah l ow _|0 0 1 0 2 0|1 2 2 1\n";
  }
  // A config.json with a model option chord does not know.
  std::ofstream(dir / "unknown_option.json") << R"({"model": {"use_duration_discriminator": true, "foo_layers": 3}})" << "\n";
  std::cout << "wrote " << (dir / "train.list").string() << ", valid.list, bad.list, unknown_option.json and " << utterances.size() << " WAVs\n";
  return 0;
}

int check_wav(const std::filesystem::path& path, int64_t rate, int64_t samples) {
  const auto audio = chord::audio::read_audio(path);
  std::cout << "wav: " << audio.frames() << " samples at " << audio.sample_rate << " Hz, " << audio.channels() << " channel(s)\n";
  if (audio.sample_rate != rate || audio.frames() != samples || audio.channels() != 1 || samples <= 0) {
    std::cout << "check-wav: expected " << samples << " samples at " << rate << " Hz, mono\n";
    return 1;
  }
  std::cout << "check-wav: ok\n";
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 5 && std::string(argv[1]) == "--check-wav") return check_wav(argv[2], std::atoll(argv[3]), std::atoll(argv[4]));
    if (argc == 2) return write_inputs(argv[1]);
    std::cerr << "usage: " << argv[0] << " <dir> | --check-wav <file> <rate> <samples>\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << argv[0] << ": " << error.what() << "\n";
    return 1;
  }
}
