#pragma once
/// @file
/// Audio files through libsndfile (WAV, FLAC, OGG, ... whatever it was built with).
/// Samples are float32 `[channels, frames]` in [-1, 1].

#include "chord/core/error.hpp"

#include <sndfile.h>
#include <torch/types.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace chord::audio {

/// Decoded audio: `samples [C, N]` float32 and its sample rate.
struct Audio {
  torch::Tensor samples;
  int64_t sample_rate = 0;

  int64_t channels() const { return samples.size(0); }
  int64_t frames() const { return samples.size(1); }
  double seconds() const { return sample_rate > 0 ? static_cast<double>(frames()) / sample_rate : 0.0; }
};

/// How write_audio() stores samples. Container (WAV / FLAC) follows the file extension.
enum class SampleFormat { pcm16, pcm24, float32 };

namespace detail {
struct SndfileCloser {
  void operator()(SNDFILE* file) const { sf_close(file); }
};
using SndfileHandle = std::unique_ptr<SNDFILE, SndfileCloser>;
}  // namespace detail

/// Header information without decoding the samples.
struct AudioInfo {
  int64_t frames = 0;
  int64_t sample_rate = 0;
  int64_t channels = 0;
  double seconds() const { return sample_rate > 0 ? static_cast<double>(frames) / sample_rate : 0.0; }
};

inline AudioInfo audio_info(const std::filesystem::path& path) {
  SF_INFO info{};
  detail::SndfileHandle file(sf_open(path.c_str(), SFM_READ, &info));
  CHORD_CHECK(file, "cannot read audio '", path.string(), "': ", sf_strerror(nullptr));
  return {info.frames, info.samplerate, info.channels};
}

/// Reads a whole file.
inline Audio read_audio(const std::filesystem::path& path) {
  CHORD_CHECK(std::filesystem::exists(path), "audio file '", path.string(), "' does not exist");
  SF_INFO info{};
  detail::SndfileHandle file(sf_open(path.c_str(), SFM_READ, &info));
  CHORD_CHECK(file, "cannot read audio '", path.string(), "': ", sf_strerror(nullptr));
  CHORD_CHECK(info.channels > 0 && info.samplerate > 0, "audio '", path.string(),
              "' has no channels or no sample rate");
  // The header's frame count is what the file claims, not what it holds (found by fuzzing: a FLAC of
  // 116 bytes claiming 1.7 G frames). Allocate it at once only when the file could hold it (a byte per
  // sample or more, as every PCM format) or it is small; otherwise (a damaged or crafted header, or a
  // very compressible FLAC) decode in blocks, so memory follows the samples actually decoded.
  const int64_t frames = info.frames, channels = info.channels;
  const int64_t plausible = std::max<int64_t>(static_cast<int64_t>(std::filesystem::file_size(path)), int64_t{16} << 20);
  torch::Tensor interleaved;
  sf_count_t read = 0;
  if (frames <= plausible / channels) {
    interleaved = torch::empty({frames, channels}, torch::kFloat32);
    read = sf_readf_float(file.get(), interleaved.data_ptr<float>(), frames);
  } else {
    constexpr int64_t kBlockFrames = int64_t{1} << 18;
    std::vector<torch::Tensor> blocks;
    while (read < frames) {
      const int64_t want = std::min(kBlockFrames, frames - read);
      auto block = torch::empty({want, channels}, torch::kFloat32);
      const sf_count_t got = sf_readf_float(file.get(), block.data_ptr<float>(), want);
      if (got > 0) blocks.push_back(block.narrow(0, 0, got));
      read += got;
      if (got < want) break;
    }
    interleaved = blocks.empty() ? torch::empty({0, channels}, torch::kFloat32) : torch::cat(blocks);
  }
  CHORD_CHECK(read == info.frames, "audio '", path.string(), "' is truncated: read ", read, " of ",
              info.frames, " frames");
  // NaN or Inf samples (float files written from a diverged model, corrupt data) would surface much
  // later as NaN losses or NaN output; refuse them here, where the file can be named.
  if (!torch::isfinite(interleaved).all().item<bool>()) {
    const auto first = torch::logical_not(torch::isfinite(interleaved)).flatten().nonzero()[0].item<int64_t>();
    CHORD_FAIL("audio '", path.string(), "' contains NaN or Inf samples (the first at frame ", first / info.channels,
               ", channel ", first % info.channels, "): the file is corrupt or was written from a diverged model");
  }
  return {interleaved.t().contiguous(), info.samplerate};
}

/// Writes `samples` (`[C, N]` or `[N]`, float, nominally in [-1, 1]; PCM output is clipped) to `path`.
/// The container follows the extension: .wav, .flac (PCM only), .ogg. The write is atomic.
inline void write_audio(const std::filesystem::path& path, const torch::Tensor& samples, int64_t sample_rate,
                        SampleFormat format = SampleFormat::pcm16) {
  TORCH_CHECK(samples.dim() == 1 || samples.dim() == 2, "write_audio: samples [C,N] or [N] expected, got ",
              samples.sizes());
  CHORD_CHECK(sample_rate > 0, "write_audio: sample rate must be > 0, got ", sample_rate);
  auto data = samples.dim() == 1 ? samples.unsqueeze(0) : samples;
  auto interleaved = data.detach().to(torch::kCPU, torch::kFloat32).t().contiguous();
  CHORD_CHECK(torch::isfinite(interleaved).all().item<bool>(), "write_audio '", path.string(),
              "': samples contain NaN or Inf");

  auto extension = path.extension().string();
  for (auto& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int container = 0;
  if (extension == ".wav") {
    container = SF_FORMAT_WAV;
  } else if (extension == ".flac") {
    container = SF_FORMAT_FLAC;
    CHORD_CHECK(format != SampleFormat::float32, "write_audio '", path.string(), "': FLAC stores PCM only");
  } else if (extension == ".ogg") {
    container = SF_FORMAT_OGG;
  } else {
    CHORD_FAIL("write_audio '", path.string(), "': unknown extension '", extension, "' (use .wav, .flac or .ogg)");
  }
  int subtype = SF_FORMAT_PCM_16;
  if (container == SF_FORMAT_OGG) {
    subtype = SF_FORMAT_VORBIS;
  } else if (format == SampleFormat::pcm24) {
    subtype = SF_FORMAT_PCM_24;
  } else if (format == SampleFormat::float32) {
    subtype = SF_FORMAT_FLOAT;
  }

  SF_INFO info{};
  info.samplerate = static_cast<int>(sample_rate);
  info.channels = static_cast<int>(data.size(0));
  info.format = container | subtype;
  CHORD_CHECK(sf_format_check(&info), "write_audio '", path.string(), "': libsndfile cannot write this format");

  if (!path.parent_path().empty()) std::filesystem::create_directories(path.parent_path());
  auto temporary = path;
  temporary += ".tmp";
  {
    detail::SndfileHandle file(sf_open(temporary.c_str(), SFM_WRITE, &info));
    CHORD_CHECK(file, "cannot write audio '", temporary.string(), "': ", sf_strerror(nullptr));
    sf_command(file.get(), SFC_SET_CLIPPING, nullptr, SF_TRUE);
    const sf_count_t frames = interleaved.size(0);
    const sf_count_t written = sf_writef_float(file.get(), interleaved.data_ptr<float>(), frames);
    CHORD_CHECK(written == frames, "writing audio '", path.string(), "' failed: ", sf_strerror(file.get()));
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace chord::audio
