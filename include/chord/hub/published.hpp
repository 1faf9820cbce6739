#pragma once
/// @file
/// fetch_published_model(): every file of a registered model (hub/registry.hpp) at its pinned commit,
/// checked against the sha256 the registry records, through the cache Python's huggingface_hub shares.
///
/// The pin and a cache filled by Python: a user whose tools downloaded the same file at another
/// revision (`main` a few commits later, say, which did not change the file) has its bytes already.
/// When the pinned commit is not in the cache, a cached copy under any commit whose content has the
/// registry's sha256 is used, without a request: an LFS blob is named by its sha256, a small file
/// stored in git is hashed. Nothing is written for the pinned commit, so the cache stays exactly as
/// huggingface_hub would leave it.
///
/// A revision other than the pin (`--model-revision main`) takes what the repository has there, with
/// no content check: the registry knows only the pinned bytes.

#include "chord/hub/download.hpp"
#include "chord/hub/registry.hpp"
#include "chord/hub/sha256.hpp"

#include <optional>
#include <string>

namespace chord::hub {

namespace detail {

/// Files stored in git rather than LFS are small (the Hub moves anything over 10 MB to LFS); a cached
/// copy larger than this is not hashed to compare it.
inline constexpr uintmax_t kLargestHashedCopy = 16u << 20;

/// Whether the cached file `path` (a snapshot pointer) holds the content with `sha256`.
inline bool cached_content_is(const fs::path& path, const std::string& sha256) {
  std::error_code error;
  const auto blob = fs::canonical(path, error);
  if (error) return false;
  const auto blob_name = blob.filename().string();
  if (is_sha256(blob_name)) return blob_name == sha256;  // an LFS blob: its name is its sha256
  const auto size = fs::file_size(blob, error);
  return !error && size <= kLargestHashedCopy && sha256_of_file(blob) == sha256;
}

struct CachedCopy {
  std::string commit;
  fs::path path;
};

/// A cached copy of `file` whose content is the registry's, under whatever commit it was downloaded.
inline std::optional<CachedCopy> cached_copy_with_content(const RepoCache& cache, const PublishedFile& file) {
  std::error_code error;
  if (file.sha256.empty() || !fs::is_directory(cache.root / "snapshots", error)) return std::nullopt;
  for (const auto& snapshot : fs::directory_iterator(cache.root / "snapshots", error)) {
    const auto candidate = snapshot.path() / file.path;
    if (fs::exists(candidate, error) && cached_content_is(candidate, file.sha256))
      return CachedCopy{snapshot.path().filename().string(), candidate};
  }
  return std::nullopt;
}

}  // namespace detail

/// Fetches (or finds in the cache) every file of `model` at `revision` (empty: the registry's pinned
/// commit) and returns their paths by role. At the pin, each file with a recorded sha256 must have
/// that content: a file that differs is refused, naming both hashes.
inline ModelFiles fetch_published_model(const PublishedModel& model, const std::string& revision = {},
                                        const HubOptions& options = HubOptions::from_environment(), const Progress& progress = {}) {
  const bool pinned = revision.empty() || revision == model.revision;
  const auto& asked = pinned ? model.revision : revision;
  const RepoCache cache(options.cache_dir, model.repo);
  ModelFiles result{&model, {}, {}};
  for (const auto& file : model.files) {
    if (pinned && !cache.cached_file(file.path, asked)) {
      if (const auto copy = detail::cached_copy_with_content(cache, file)) {
        if (progress.on_note)
          progress.on_note("'" + file.path + "' of " + model.repo + ": using the copy cached at commit " + copy->commit +
                           ", which has the pinned content (sha256 " + file.sha256.substr(0, 12) + "...)");
        result.files[file.role] = copy->path;
        result.snapshot = cache.snapshot(copy->commit);
        continue;
      }
    }
    const auto fetched = fetch_file(model.repo, file.path, asked, options, progress);
    if (pinned && !file.sha256.empty()) {
      CHORD_CHECK(detail::cached_content_is(fetched.path, file.sha256), "'", file.path, "' of ", model.repo, " at the pinned commit ", asked,
                  " is not the file chord's registry names for ", model.name, " (sha256 ", sha256_of_file(fetched.path), ", pinned ",
                  file.sha256, "; the copy is ", fetched.path.string(),
                  "). The repository or the registry changed: report it, or take what the repository has with --model-revision main "
                  "(chord-fetch --revision main)");
    }
    result.files[file.role] = fetched.path;
    result.snapshot = fetched.snapshot;
  }
  return result;
}

}  // namespace chord::hub
