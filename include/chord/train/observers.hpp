#pragma once
/// @file
/// What the trainer reports and who listens: the observer interface, JSON Lines scalars,
/// TensorBoard event files and a console progress bar. Library code never prints by itself; these
/// are the hooks a program passes in.

#include "chord/core/error.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace chord::train {

enum class MessageLevel { info, warning, error };

/// One finished optimiser update.
struct StepReport {
  int64_t step = 0;         ///< updates completed, counting this one
  int64_t total_steps = 0;  ///< the run's target
  int64_t epoch = 0;
  std::map<std::string, double> scalars;  ///< losses (mean over micro-batches), lr, grad norms
  double elapsed_seconds = 0.0;           ///< since this run (or resume) started
  double steps_per_second = 0.0;          ///< this run's average
  bool log = false;                       ///< true on logging steps (every `log_every` updates)
};

/// A picture or a sound of the run (an evaluation's spectrogram, alignment or speech) for viewers such
/// as TensorBoard: the encoded file's bytes as written, with what a viewer needs to know about them.
struct MediaReport {
  enum class Kind { png, wav };
  Kind kind = Kind::png;
  std::string tag;
  int64_t step = 0;
  std::string bytes;                 ///< the PNG or WAV file
  int64_t width = 0, height = 0;     ///< png
  double sample_rate = 0.0;          ///< wav
  int64_t channels = 0, frames = 0;  ///< wav
};

/// Receives training events. Every hook has an empty default.
class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  virtual void on_start(int64_t /*step*/, int64_t /*total_steps*/) {}
  virtual void on_step(const StepReport& /*report*/) {}
  /// Scalars outside the update cadence (validation metrics, sample statistics).
  virtual void on_scalars(int64_t /*step*/, const std::map<std::string, double>& /*scalars*/) {}
  virtual void on_message(MessageLevel /*level*/, const std::string& /*text*/) {}
  /// Pictures and sounds outside the update cadence (evaluations).
  virtual void on_media(const MediaReport& /*media*/) {}
  virtual void on_end(int64_t /*step*/) {}
  /// In a multi-process run only rank 0 drives the observers, except those that return true here
  /// (per-rank logs).
  virtual bool on_every_rank() const { return false; }
};

/// Appends one JSON object per logging step: `{"step":…, "epoch":…, "time":…, "<scalar>":…}`.
class JsonlLogger : public TrainingObserver {
 public:
  /// @param append keep existing lines (resume); otherwise the file is truncated.
  explicit JsonlLogger(const std::filesystem::path& path, bool append = true) : path_(path) {
    if (!path.parent_path().empty()) std::filesystem::create_directories(path.parent_path());
    out_.open(path, append ? std::ios::app : std::ios::trunc);
    CHORD_CHECK(out_, "cannot open log '", path.string(), "'");
  }
  void on_step(const StepReport& report) override {
    if (!report.log) return;
    nlohmann::json line = {{"step", report.step}, {"epoch", report.epoch}, {"time", report.elapsed_seconds}};
    for (const auto& [name, value] : report.scalars) line[name] = std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
    out_ << line.dump() << '\n';
    out_.flush();
  }
  void on_scalars(int64_t step, const std::map<std::string, double>& scalars) override {
    nlohmann::json line = {{"step", step}};
    for (const auto& [name, value] : scalars) line[name] = std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
    out_ << line.dump() << '\n';
    out_.flush();
  }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

/// Reads a JSONL log back as (step, value) series per scalar name.
inline std::map<std::string, std::vector<std::pair<double, double>>> read_jsonl_scalars(
    const std::filesystem::path& path) {
  std::ifstream in(path);
  CHORD_CHECK(in, "cannot open log '", path.string(), "'");
  std::map<std::string, std::vector<std::pair<double, double>>> series;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto entry = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!entry.is_object() || !entry.contains("step")) continue;
    const double step = entry["step"].get<double>();
    for (const auto& [name, value] : entry.items()) {
      if (name == "step" || name == "epoch" || name == "time" || !value.is_number()) continue;
      series[name].emplace_back(step, value.get<double>());
    }
  }
  return series;
}

namespace detail {
/// CRC-32C (Castagnoli), as TFRecord framing requires.
inline uint32_t crc32c(const uint8_t* data, size_t size) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}
inline uint32_t masked_crc32c(const uint8_t* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}
inline void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}
template <class T>
inline void put_fixed(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}
}  // namespace detail

/// Writes TensorBoard event files (`events.out.tfevents.*`) with scalar, image and audio summaries:
/// the TFRecord framing with masked CRC-32C and the `Event`/`Summary` protobufs, encoded by hand.
class TensorBoardWriter : public TrainingObserver {
 public:
  explicit TensorBoardWriter(const std::filesystem::path& directory) {
    std::filesystem::create_directories(directory);
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    char host[256] = "localhost";
    ::gethostname(host, sizeof host - 1);
    path_ = directory / ("events.out.tfevents." +
                         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count()) + "." + host +
                         "." + std::to_string(::getpid()));
    out_.open(path_, std::ios::binary | std::ios::trunc);
    CHORD_CHECK(out_, "cannot create TensorBoard file '", path_.string(), "'");
    std::string event;
    event.push_back(0x09);  // wall_time (double)
    detail::put_fixed(event, wall_time());
    event.push_back(0x1A);  // file_version (string)
    const std::string version = "brain.Event:2";
    detail::put_varint(event, version.size());
    event += version;
    write_record(event);
  }

  const std::filesystem::path& path() const noexcept { return path_; }

  /// One scalar at `step`.
  void add_scalar(const std::string& tag, double value, int64_t step) {
    std::string value_fields;
    value_fields.push_back(0x15);  // Value.simple_value (float)
    detail::put_fixed(value_fields, static_cast<float>(value));
    write_summary(tag, value_fields, step);
  }

  /// A PNG picture at `step` (Summary.Image: height, width, colorspace, the encoded file).
  void add_png(const std::string& tag, const std::string& png, int64_t width, int64_t height, int64_t step) {
    std::string image;
    image.push_back(0x08);  // height (int32)
    detail::put_varint(image, static_cast<uint64_t>(height));
    image.push_back(0x10);  // width
    detail::put_varint(image, static_cast<uint64_t>(width));
    image.push_back(0x18);  // colorspace: 3 = RGB
    detail::put_varint(image, 3);
    put_bytes(image, 0x22, png);  // encoded_image_string
    std::string value_fields;
    put_bytes(value_fields, 0x22, image);  // Value.image = 4
    write_summary(tag, value_fields, step);
  }

  /// A WAV sound at `step` (Summary.Audio: rate, channels, frames, the encoded file, its type).
  void add_wav(const std::string& tag, const std::string& wav, double sample_rate, int64_t channels, int64_t frames, int64_t step) {
    std::string audio;
    audio.push_back(0x0D);  // sample_rate (float)
    detail::put_fixed(audio, static_cast<float>(sample_rate));
    audio.push_back(0x10);  // num_channels (int64)
    detail::put_varint(audio, static_cast<uint64_t>(channels));
    audio.push_back(0x18);  // length_frames (int64)
    detail::put_varint(audio, static_cast<uint64_t>(frames));
    put_bytes(audio, 0x22, wav);           // encoded_audio_string
    put_bytes(audio, 0x2A, "audio/wav");  // content_type
    std::string value_fields;
    put_bytes(value_fields, 0x32, audio);  // Value.audio = 6
    write_summary(tag, value_fields, step);
  }

  void on_media(const MediaReport& media) override {
    if (media.kind == MediaReport::Kind::png) add_png(media.tag, media.bytes, media.width, media.height, media.step);
    else add_wav(media.tag, media.bytes, media.sample_rate, media.channels, media.frames, media.step);
    out_.flush();
  }

  void on_step(const StepReport& report) override {
    if (!report.log) return;
    for (const auto& [name, value] : report.scalars) add_scalar("train/" + name, value, report.step);
    out_.flush();
  }
  void on_scalars(int64_t step, const std::map<std::string, double>& scalars) override {
    for (const auto& [name, value] : scalars) add_scalar(name, value, step);
    out_.flush();
  }
  void on_end(int64_t) override { out_.flush(); }

 private:
  static double wall_time() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  /// A length-delimited protobuf field: its key byte, the length, the bytes.
  static void put_bytes(std::string& out, char key, const std::string& bytes) {
    out.push_back(key);
    detail::put_varint(out, bytes.size());
    out += bytes;
  }
  /// An Event at `step` holding one Summary.Value: the tag, then `value_fields` (its value, encoded).
  void write_summary(const std::string& tag, const std::string& value_fields, int64_t step) {
    std::string summary_value;
    put_bytes(summary_value, 0x0A, tag);  // Value.tag = 1
    summary_value += value_fields;
    std::string summary;
    put_bytes(summary, 0x0A, summary_value);  // repeated Value value = 1
    std::string event;
    event.push_back(0x09);  // wall_time (double)
    detail::put_fixed(event, wall_time());
    event.push_back(0x10);  // step (int64 varint)
    detail::put_varint(event, static_cast<uint64_t>(step));
    put_bytes(event, 0x2A, summary);  // Event.summary = 5
    write_record(event);
  }
  void write_record(const std::string& data) {
    const uint64_t length = data.size();
    uint8_t header[12];
    std::memcpy(header, &length, 8);
    const uint32_t length_crc = detail::masked_crc32c(header, 8);
    std::memcpy(header + 8, &length_crc, 4);
    const uint32_t data_crc = detail::masked_crc32c(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    out_.write(reinterpret_cast<const char*>(header), 12);
    out_.write(data.data(), static_cast<std::streamsize>(data.size()));
    out_.write(reinterpret_cast<const char*>(&data_crc), 4);
  }

  std::filesystem::path path_;
  std::ofstream out_;
};

/// Progress on a terminal: one redrawn line with a bar, rate and ETA; elsewhere (a log file, CI)
/// plain lines on logging steps. Messages always get their own line.
class ConsoleProgress : public TrainingObserver {
 public:
  explicit ConsoleProgress(std::ostream& out = std::cerr, std::string label = "train")
      : out_(out), label_(std::move(label)), interactive_(&out == &std::cerr ? ::isatty(2) : (&out == &std::cout ? ::isatty(1) : 0)) {}

  void on_start(int64_t step, int64_t total) override {
    start_step_ = step;
    out_ << "[" << label_ << "] starting at step " << step << " of " << total << "\n";
  }

  void on_step(const StepReport& r) override {
    const auto now = std::chrono::steady_clock::now();
    if (interactive_) {
      if (r.step < r.total_steps && now - last_draw_ < std::chrono::milliseconds(100)) return;
      last_draw_ = now;
      out_ << "\r" << line(r) << "\033[K" << std::flush;
      if (r.step >= r.total_steps) out_ << "\n";
      drawn_ = true;
    } else if (r.log || r.step >= r.total_steps) {
      out_ << line(r) << "\n" << std::flush;
    }
  }

  /// Validation losses and other off-cadence scalars get a line of their own.
  void on_scalars(int64_t step, const std::map<std::string, double>& scalars) override {
    if (drawn_) out_ << "\n";
    drawn_ = false;
    out_ << "[" << label_ << "] step " << step << ":";
    for (const auto& [name, value] : scalars) {
      char item[96];
      std::snprintf(item, sizeof item, " %s=%.4g", name.c_str(), value);
      out_ << item;
    }
    out_ << "\n" << std::flush;
  }

  void on_message(MessageLevel level, const std::string& text) override {
    if (drawn_) out_ << "\n";
    drawn_ = false;
    const char* tag = level == MessageLevel::warning ? "warning: " : (level == MessageLevel::error ? "error: " : "");
    out_ << "[" << label_ << "] " << tag << text << "\n" << std::flush;
  }

  void on_end(int64_t step) override {
    if (drawn_) out_ << "\n";
    drawn_ = false;
    out_ << "[" << label_ << "] stopped at step " << step << "\n" << std::flush;
  }

 private:
  std::string line(const StepReport& r) const {
    const double fraction = r.total_steps > 0 ? static_cast<double>(r.step) / static_cast<double>(r.total_steps) : 0.0;
    constexpr int width = 24;
    const int filled = static_cast<int>(fraction * width);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    const double remaining = r.steps_per_second > 0 ? static_cast<double>(r.total_steps - r.step) / r.steps_per_second : 0.0;
    char head[160];
    std::snprintf(head, sizeof head, "[%s] %s %lld/%lld (%3.0f%%) %.2f it/s ETA %s", label_.c_str(), bar.c_str(),
                  static_cast<long long>(r.step), static_cast<long long>(r.total_steps), 100.0 * fraction,
                  r.steps_per_second, format_duration(remaining).c_str());
    std::string text = head;
    for (const auto& [name, value] : r.scalars) {
      char item[96];
      std::snprintf(item, sizeof item, " %s=%.4g", name.c_str(), value);
      text += item;
    }
    return text;
  }

  static std::string format_duration(double seconds) {
    const auto s = static_cast<long long>(seconds + 0.5);
    char text[32];
    if (s >= 3600) std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
    else std::snprintf(text, sizeof text, "%02lld:%02lld", s / 60, s % 60);
    return text;
  }

  std::ostream& out_;
  std::string label_;
  bool interactive_;
  bool drawn_ = false;
  int64_t start_step_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

/// The log file of one process of a multi-process run, `<folder>/rank<N>.log`, appended on resume:
/// what the console shows on rank 0 (start, logged steps, messages, end), for every rank — the
/// reference trainer loses the logs of every rank but 0.
class RankLog : public TrainingObserver {
 public:
  RankLog(const std::filesystem::path& folder, int rank, const std::string& label)
      : path_(folder / ("rank" + std::to_string(rank) + ".log")) {
    std::filesystem::create_directories(folder);
    out_.open(path_, std::ios::app);
    CHORD_CHECK(out_, "cannot open log '", path_.string(), "'");
    console_ = std::make_unique<ConsoleProgress>(out_, label + " rank " + std::to_string(rank));
  }
  void on_start(int64_t step, int64_t total) override { console_->on_start(step, total); }
  void on_step(const StepReport& report) override { console_->on_step(report); }
  void on_scalars(int64_t step, const std::map<std::string, double>& scalars) override { console_->on_scalars(step, scalars); }
  void on_message(MessageLevel level, const std::string& text) override { console_->on_message(level, text); }
  void on_end(int64_t step) override { console_->on_end(step); }
  bool on_every_rank() const override { return true; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
  std::unique_ptr<ConsoleProgress> console_;
};

}  // namespace chord::train
