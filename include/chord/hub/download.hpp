#pragma once
/// @file
/// download_file(): one file of a Hugging Face Hub model repository, into the cache the Python
/// `huggingface_hub` package shares (hub/cache.hpp), following its `hf_hub_download`:
///
///  1. a commit revision whose file is cached is returned without a request; offline mode
///     (HF_HUB_OFFLINE=1) resolves branch and tag names through refs/ and never touches the network;
///  2. HEAD `{endpoint}/{repo}/resolve/{revision}/{file}`, following redirects on the Hub's own host
///     only: X-Repo-Commit is the commit, X-Linked-Etag (LFS: the sha256) or ETag the blob name,
///     X-Linked-Size or Content-Length the size, Location where the bytes are;
///  3. under the flock of `.locks/models--org--name/<etag>.lock`, GET the bytes into
///     `blobs/<etag>.incomplete` (resumed with a Range request after a dropped connection or an
///     interrupted run; retried with exponential backoff on connection errors, 429 and 5xx), check the
///     size and, for LFS files, the sha256, rename into `blobs/<etag>`, and link
///     `snapshots/<commit>/<file>` to it; `refs/<branch or tag>` records the commit.
///
/// One difference: huggingface_hub 1.x writes each download to a process-unique temporary name and
/// drops it on failure; chord keeps `<etag>.incomplete` (the name earlier versions resumed) so that a
/// multi-GB transfer cut short resumes. It is written only under the lock, and Python ignores it.
/// A file whose bytes do not match the Hub's sha256 is deleted, never cached, and reported.

#include "chord/core/parse.hpp"
#include "chord/hub/cache.hpp"
#include "chord/hub/http.hpp"
#include "chord/hub/sha256.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>

namespace chord::hub {

/// What a download reports while it works: bytes of one file, and notes (a resume, a retry).
struct Progress {
  std::function<void(const std::string& filename, uint64_t done, uint64_t total)> on_bytes;
  std::function<void(const std::string& message)> on_note;
};

/// Where a file ended up and how it got there.
struct FetchedFile {
  fs::path path;           ///< snapshots/<commit>/<filename> (a symlink into blobs/)
  fs::path snapshot;       ///< snapshots/<commit>: the repository's folder at that commit
  std::string commit;      ///< the revision resolved to a commit
  bool downloaded = false; ///< false: it was in the cache already
};

namespace detail {

/// The token must never be printed: every message leaving this file passes through here.
inline std::string redact(std::string text, const std::string& token) {
  if (token.size() < 4) return text;
  for (size_t at = 0; (at = text.find(token, at)) != std::string::npos;) text.replace(at, token.size(), "<token>");
  return text;
}

inline std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  while (!etag.empty() && etag.front() == '"') etag.erase(etag.begin());
  while (!etag.empty() && etag.back() == '"') etag.pop_back();
  return etag;
}

inline bool is_sha256(const std::string& etag) {
  return etag.size() == 64 &&
         std::all_of(etag.begin(), etag.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

inline bool retryable(const http::Response& response) {
  return response.transport_failed() || response.status == 429 || response.status >= 500;
}

inline void sleep_seconds(double seconds) {
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

inline double backoff(const HubOptions& options, int attempt) {
  return std::min(options.max_backoff_seconds, options.first_backoff_seconds * std::pow(2.0, attempt));
}

inline std::string describe(const http::Response& response) {
  if (response.transport_failed()) return response.curl_error;
  std::string text = "HTTP " + std::to_string(response.status);
  if (const auto message = response.header("x-error-message"); !message.empty()) text += ": " + message;
  return text;
}

struct Request {
  const std::string& repo_id;
  const std::string& filename;
  const std::string& revision;
  const HubOptions& options;
  std::string what() const { return "'" + filename + "' of " + repo_id + " at revision '" + revision + "'"; }
  std::string page() const { return options.endpoint + "/" + repo_id; }
};

/// The message for a refused or missing file: what to do about it, in the Hub's terms.
[[noreturn]] inline void fail_on_status(const Request& request, const http::Response& response) {
  const auto code = response.header("x-error-code");
  const auto& options = request.options;
  if (response.status == 401 || response.status == 403) {
    std::string message = request.what() + ": access refused (" + describe(response) + "). ";
    if (code == "GatedRepo" || response.status == 403) {
      message += "The repository is gated: open " + request.page() +
                 ", accept its licence while logged in, then give chord an access token of that account";
    } else {
      message += "The repository is private or gated (or does not exist): if you can see " + request.page() +
                 " when logged in, give chord an access token of that account";
    }
    message += options.token.empty() ? " (set HF_TOKEN, or run `hf auth login`, which writes $HF_HOME/token; no token was sent)"
                                     : " (a token was sent, from HF_TOKEN or the token file: check that it belongs to that account "
                                       "and may read gated repositories)";
    CHORD_FAIL(redact(message, options.token));
  }
  if (response.status == 404) {
    if (code == "RepoNotFound") CHORD_FAIL(redact("repository " + request.repo_id + " not found on " + options.endpoint + " (" + describe(response) + ")", options.token));
    if (code == "RevisionNotFound")
      CHORD_FAIL(redact("revision '" + request.revision + "' not found in " + request.repo_id + " (a branch, a tag or a commit of " + request.page() + ")", options.token));
    CHORD_FAIL(redact(request.what() + " not found (" + describe(response) + "): check the file's path on " + request.page() + "/tree/" + request.revision, options.token));
  }
  CHORD_FAIL(redact(request.what() + ": " + describe(response), options.token));
}

struct Metadata {
  std::string commit, etag, url;
  std::optional<uint64_t> size;
};

/// HEAD with retries; follows redirects on the endpoint's host (a renamed repository), stops at
/// one elsewhere (a CDN: its Location is where the bytes are, and the token must not go there).
inline http::Response head_with_redirects(const std::string& url, const http::RequestHeaders& headers, const HubOptions& options,
                                          std::string& final_url) {
  final_url = url;
  http::Response response;
  for (int hop = 0; hop < 10; ++hop) {
    response = http::head(final_url, headers, options.metadata_timeout_seconds);
    const auto location = response.header("location");
    if (response.transport_failed() || response.status < 300 || response.status >= 400 || location.empty()) return response;
    const auto target = http::resolve_location(final_url, location);
    if (http::origin_of(target) != http::origin_of(final_url)) return response;
    final_url = target;
  }
  return response;
}

inline uint64_t size_on_disk(const fs::path& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  return error ? 0 : size;
}

/// `pointer` → blob, relative (../../blobs/<etag>), as huggingface_hub links it.
inline void link_pointer(const fs::path& blob, const fs::path& pointer) {
  fs::create_directories(pointer.parent_path());
  std::error_code error;
  fs::remove(pointer, error);
  const auto target = fs::absolute(blob).lexically_normal().lexically_relative(fs::absolute(pointer.parent_path()).lexically_normal());
  fs::create_symlink(target, pointer, error);
  if (error && !(fs::is_symlink(pointer) && fs::equivalent(pointer, blob)))
    CHORD_FAIL("cannot create the link '", pointer.string(), "' → '", target.string(), "': ", error.message());
}

/// Downloads `url` into blobs/<etag> (the lock is held by the caller). Returns after the rename.
inline void download_blob(const Request& request, const Metadata& meta, const fs::path& blob, const http::RequestHeaders& headers,
                          const Progress& progress) {
  const auto& options = request.options;
  fs::path incomplete = blob;
  incomplete += ".incomplete";
  auto note = [&](const std::string& message) {
    if (progress.on_note) progress.on_note(redact(message, options.token));
  };
  bool fresh_retry_done = false;
  for (int attempt = 0;; ++attempt) {
    uint64_t offset = size_on_disk(incomplete);
    if (meta.size && offset > *meta.size) {  // longer than the file: not ours to resume
      fs::remove(incomplete);
      offset = 0;
    }
    const bool resumed = offset > 0;
    if (resumed && attempt == 0) note("resuming '" + request.filename + "' at " + std::to_string(offset) + " bytes (" + incomplete.string() + ")");
    http::Response response;
    if (!meta.size || offset < *meta.size) {
      std::FILE* sink = std::fopen(incomplete.c_str(), "ab");
      CHORD_CHECK(sink != nullptr, "cannot write '", incomplete.string(), "': ", std::strerror(errno));
      const uint64_t total = meta.size.value_or(0);
      response = http::get(meta.url, headers, sink, offset, options.metadata_timeout_seconds, options.download_timeout_seconds,
                           [&](uint64_t done) {
                             if (progress.on_bytes) progress.on_bytes(request.filename, done, total);
                           });
      const bool closed = std::fclose(sink) == 0;
      CHORD_CHECK(closed, "writing '", incomplete.string(), "' failed: ", std::strerror(errno));
    } else {
      response.status = 206;  // the partial file is already whole: check it
    }
    if (response.status == 416 && meta.size && size_on_disk(incomplete) == *meta.size) response.status = 206;
    const bool ok = !response.transport_failed() && (response.status == 200 || response.status == 206);
    if (!ok) {
      if (response.status == 416) {  // the range we asked for makes no sense to the server: start over
        fs::remove(incomplete);
      } else if (!retryable(response)) {
        fail_on_status(request, response);
      }
      if (attempt >= options.max_retries)
        CHORD_FAIL(redact(request.what() + ": download failed after " + std::to_string(attempt + 1) + " attempts (" + describe(response) + "); " +
                              std::to_string(size_on_disk(incomplete)) + " bytes kept in '" + incomplete.string() + "', the next run resumes there",
                          options.token));
      const double wait = backoff(options, attempt);
      note("'" + request.filename + "': " + describe(response) + " after " + std::to_string(size_on_disk(incomplete)) + " bytes; retrying in " +
           std::to_string(wait).substr(0, 4) + " s (attempt " + std::to_string(attempt + 2) + " of " + std::to_string(options.max_retries + 1) + ")");
      sleep_seconds(wait);
      continue;
    }
    const uint64_t got = size_on_disk(incomplete);
    if (meta.size && got != *meta.size) {
      fs::remove(incomplete);
      CHORD_FAIL(redact(request.what() + ": received " + std::to_string(got) + " bytes, the Hub announced " + std::to_string(*meta.size) +
                            "; the download was deleted",
                        options.token));
    }
    if (is_sha256(meta.etag)) {
      const auto actual = sha256_of_file(incomplete);
      if (actual != meta.etag) {
        fs::remove(incomplete);
        if (resumed && !fresh_retry_done) {  // a stale partial file from another version: once more from zero
          fresh_retry_done = true;
          note("'" + request.filename + "': the resumed file does not match its sha256; downloading it again from the start");
          --attempt;
          continue;
        }
        CHORD_FAIL(redact(request.what() + " is corrupt: its sha256 is " + actual + ", the Hub says " + meta.etag +
                              "; the download was deleted and nothing was cached (try again; if it persists, the mirror at " +
                              options.endpoint + " serves wrong bytes)",
                          options.token));
      }
    }
    fs::rename(incomplete, blob);
    return;
  }
}

}  // namespace detail

/// Downloads (or finds in the cache) `filename` of the model repository `repo_id` at `revision`
/// (a branch, a tag or a commit) and returns where it is: `snapshots/<commit>/<filename>`.
inline FetchedFile fetch_file(const std::string& repo_id, const std::string& filename, const std::string& revision = "main",
                              const HubOptions& options = HubOptions::from_environment(), const Progress& progress = {}) {
  check_repo_id(repo_id);
  check_repo_filename(filename);
  check_revision(revision);
  CHORD_CHECK(!options.cache_dir.empty(), "no Hugging Face cache folder (set HF_HUB_CACHE or HF_HOME)");
  const RepoCache cache(options.cache_dir, repo_id);
  const detail::Request request{repo_id, filename, revision, options};
  auto cached = [&](const std::string& commit) {
    return FetchedFile{cache.pointer(commit, filename), cache.snapshot(commit), commit, false};
  };
  auto note = [&](const std::string& message) {
    if (progress.on_note) progress.on_note(detail::redact(message, options.token));
  };

  if (is_commit_hash(revision) && fs::exists(cache.pointer(revision, filename))) return cached(revision);
  if (options.offline) {
    if (const auto commit = cache.commit_of(revision); commit && fs::exists(cache.pointer(*commit, filename))) return cached(*commit);
    const bool known = fs::exists(cache.root);
    CHORD_FAIL("offline (HF_HUB_OFFLINE=1): ", request.what(), " is not in the Hugging Face cache '", options.cache_dir.string(), "' (",
               !known ? "nothing of " + repo_id + " is there" : cache.commit_of(revision) ? "that commit lacks the file" : "no ref '" + revision + "' is recorded there",
               "). Download it once with network access (chord-fetch --repo ", repo_id, " --file ", filename, " --revision ", revision,
               ", or `hf download ", repo_id, " ", filename, "`), or point HF_HUB_CACHE/HF_HOME at the cache that has it");
  }

  const std::string url = options.endpoint + "/" + http::quote(repo_id, true) + "/resolve/" + http::quote(revision, false) + "/" +
                          http::quote(filename, true);
  const http::RequestHeaders headers{options.token, http::origin_of(options.endpoint)};
  std::string head_url;
  http::Response response;
  for (int attempt = 0;; ++attempt) {
    response = detail::head_with_redirects(url, headers, options, head_url);
    if (!detail::retryable(response)) break;
    // The Hub unreachable or failing: a cached copy of this revision will do (as huggingface_hub does).
    if (const auto commit = cache.commit_of(revision); commit && fs::exists(cache.pointer(*commit, filename))) {
      note("cannot reach " + options.endpoint + " (" + detail::describe(response) + "); using the cached '" + filename + "'");
      return cached(*commit);
    }
    if (attempt >= options.max_retries)
      CHORD_FAIL(detail::redact("cannot reach " + options.endpoint + " for " + request.what() + " (" + detail::describe(response) + ", " +
                                    std::to_string(attempt + 1) + " attempts), and it is not in the cache '" + options.cache_dir.string() +
                                    "'. Check the network (or HF_ENDPOINT), or use a machine that has it and copy the cache",
                                options.token));
    const double wait = detail::backoff(options, attempt);
    note("metadata of '" + filename + "': " + detail::describe(response) + "; retrying in " + std::to_string(wait).substr(0, 4) + " s");
    detail::sleep_seconds(wait);
  }
  const bool redirect = response.status >= 300 && response.status < 400;
  if (response.status >= 400) {
    if ((response.status == 401 || response.status == 403)) {
      if (const auto commit = cache.commit_of(revision); commit && fs::exists(cache.pointer(*commit, filename))) return cached(*commit);
    }
    detail::fail_on_status(request, response);
  }

  detail::Metadata meta;
  meta.commit = response.header("x-repo-commit");
  CHORD_CHECK(is_commit_hash(meta.commit), "the answer of ", options.endpoint, " for ", request.what(),
              " has no X-Repo-Commit header: it is not a Hugging Face Hub endpoint (check HF_ENDPOINT, proxies)");
  meta.etag = detail::normalize_etag(!response.header("x-linked-etag").empty() ? response.header("x-linked-etag") : response.header("etag"));
  CHORD_CHECK(!meta.etag.empty() && meta.etag.find('/') == std::string::npos && meta.etag != "." && meta.etag != "..",
              "the answer of ", options.endpoint, " for ", request.what(), " has no usable ETag: the file cannot be cached reliably");
  const auto size_text = !response.header("x-linked-size").empty() ? response.header("x-linked-size")
                                                                   : (redirect ? std::string{} : response.header("content-length"));
  if (!size_text.empty()) {
    const auto size = parse_number<uint64_t>(size_text);
    CHORD_CHECK(size.has_value(), "the answer of ", options.endpoint, " for ", request.what(), " gives the file's size as '", size_text,
                "', not a byte count: it is not a Hugging Face Hub endpoint (check HF_ENDPOINT, proxies)");
    meta.size = *size;
  }
  meta.url = response.header("location").empty() ? head_url : http::resolve_location(head_url, response.header("location"));

  const auto pointer = cache.pointer(meta.commit, filename);
  const auto blob = cache.blob(meta.etag);
  if (fs::exists(pointer)) {
    try {
      cache.write_ref(revision, meta.commit);
    } catch (const std::exception&) {  // a read-only cache is fine when nothing needs writing
    }
    return cached(meta.commit);
  }
  fs::create_directories(blob.parent_path());
  write_cachedir_tag(options.cache_dir);
  cache.write_ref(revision, meta.commit);

  FileLock lock(cache.lock(meta.etag));
  bool downloaded = false;
  if (!fs::exists(blob)) {  // another process may have written it while we waited for the lock
    detail::download_blob(request, meta, blob, headers, progress);
    downloaded = true;
  }
  if (!fs::exists(pointer)) detail::link_pointer(blob, pointer);
  return FetchedFile{pointer, cache.snapshot(meta.commit), meta.commit, downloaded};
}

/// The snapshot path of `filename` (see fetch_file).
inline fs::path download_file(const std::string& repo_id, const std::string& filename, const std::string& revision = "main",
                              const HubOptions& options = HubOptions::from_environment(), const Progress& progress = {}) {
  return fetch_file(repo_id, filename, revision, options, progress).path;
}

}  // namespace chord::hub
