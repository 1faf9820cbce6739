#pragma once
/// @file
/// A disk cache of per-file features (e.g. log-mels), keyed by the source file's identity and the
/// feature configuration, stored as safetensors.

#include "chord/io/safetensors.hpp"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

namespace chord::data {

class FeatureCache {
 public:
  /// @param directory where cached files go (created on demand).
  /// @param feature_key a description of the feature configuration; changing it invalidates the cache.
  FeatureCache(std::filesystem::path directory, std::string feature_key)
      : directory_(std::move(directory)), feature_key_(std::move(feature_key)) {}

  const std::filesystem::path& directory() const noexcept { return directory_; }

  /// The cached features of `source`, computing (and storing) them on a miss. A cache file that
  /// does not read back is recomputed and replaced.
  torch::Tensor get(const std::filesystem::path& source, const std::function<torch::Tensor()>& compute) const {
    const auto path = cache_path(source);
    if (std::filesystem::exists(path)) {
      try {
        io::SafetensorsReader reader(path);
        if (reader.contains("features")) return reader.tensor("features");
      } catch (const Error&) {
        // fall through: recompute and overwrite the damaged entry
      }
    }
    auto features = compute();
    io::save_safetensors(path, {{"features", features}}, {{"source", source.string()}, {"feature_key", feature_key_}});
    return features;
  }

  /// Where `source`'s features are (or would be) cached.
  std::filesystem::path cache_path(const std::filesystem::path& source) const {
    std::error_code error;
    const auto canonical = std::filesystem::weakly_canonical(source, error);
    const auto size = std::filesystem::file_size(source, error);
    const auto stamp = std::filesystem::last_write_time(source, error).time_since_epoch().count();
    const std::string identity = feature_key_ + '\n' + (error ? source.string() : canonical.string()) + '\n' +
                                 std::to_string(size) + '\n' + std::to_string(stamp);
    uint64_t hash = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : identity) {
      hash ^= c;
      hash *= 1099511628211ull;
    }
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.safetensors", static_cast<unsigned long long>(hash));
    return directory_ / name;
  }

 private:
  std::filesystem::path directory_;
  std::string feature_key_;
};

}  // namespace chord::data
