#pragma once
/// @file
/// The two HTTP requests the Hub client makes, on libcurl: a HEAD that does not follow redirects (the
/// Hub's metadata headers are on the redirect itself) and a GET that streams into a file from an
/// offset (a Range request) with a progress callback. No retry here: download.hpp decides.

#include "chord/core/error.hpp"
#include "chord/version.hpp"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace chord::hub::http {

/// One response: the status, the headers of the last response (names lower-cased), and for a
/// failed request the start of its body (the Hub explains errors there and in X-Error-Message).
struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;
  std::string error_body;
  CURLcode curl_code = CURLE_OK;  ///< a transport error (no connection, dropped, stalled), else CURLE_OK
  std::string curl_error;         ///< libcurl's words for curl_code

  bool transport_failed() const { return curl_code != CURLE_OK; }
  std::string header(const std::string& lower_name) const {
    const auto found = headers.find(lower_name);
    return found == headers.end() ? std::string{} : found->second;
  }
};

/// Request headers: the token (when given) goes in Authorization, and only to `token_host`.
struct RequestHeaders {
  std::string token;
  std::string token_host;  ///< scheme://host[:port] the token may be sent to (the endpoint's)
};

/// scheme://host[:port] of a URL ("" when it has none).
inline std::string origin_of(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  const auto path = url.find('/', scheme + 3);
  std::string origin = url.substr(0, path);
  for (auto& c : origin) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return origin;
}

/// A Location header resolved against the request URL (absolute, or a path on the same host).
inline std::string resolve_location(const std::string& request_url, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  if (!location.empty() && location.front() == '/') return origin_of(request_url) + location;
  const auto slash = request_url.rfind('/');
  return request_url.substr(0, slash + 1) + location;
}

/// Percent-encodes everything but unreserved characters, and '/' when `keep_slash`.
inline std::string quote(const std::string& text, bool keep_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

namespace detail {

inline void global_init() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

struct Transfer {
  Response response;
  std::FILE* sink = nullptr;            ///< where a successful body goes (GET)
  uint64_t offset = 0;                  ///< bytes already in sink before this request
  uint64_t written = 0;                 ///< bytes written by this request
  bool restart_checked = false;
  std::function<void(uint64_t)> progress;  ///< total bytes in sink so far
  std::string write_error;
};

inline size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  std::string line(data, size * count);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or a 100): forget the last
    t.response.headers.clear();
    const auto space = line.find(' ');
    t.response.status = space == std::string::npos ? 0 : std::strtol(line.c_str() + space + 1, nullptr, 10);
    return size * count;
  }
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    const auto first = value.find_first_not_of(" \t");
    t.response.headers[name] = first == std::string::npos ? std::string{} : value.substr(first);
  }
  return size * count;
}

inline size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (t.response.status >= 300 && t.response.status < 400) return bytes;  // a redirect's body
  if (t.response.status >= 400 || t.sink == nullptr) {
    if (t.response.error_body.size() < 4096) t.response.error_body.append(data, std::min<size_t>(bytes, 4096));
    return bytes;
  }
  if (!t.restart_checked) {
    t.restart_checked = true;
    // Asked for a range but got the whole file (200, not 206): start the file again.
    if (t.offset > 0 && t.response.status == 200) {
      if (std::fflush(t.sink) != 0 || ::ftruncate(::fileno(t.sink), 0) != 0 || std::fseek(t.sink, 0, SEEK_SET) != 0) {
        t.write_error = "cannot truncate the partial download";
        return 0;
      }
      t.offset = 0;
    }
  }
  if (std::fwrite(data, 1, bytes, t.sink) != bytes) {
    t.write_error = "writing the download failed (disk full?)";
    return 0;
  }
  t.written += bytes;
  if (t.progress) t.progress(t.offset + t.written);
  return bytes;
}

inline curl_slist* make_headers(const std::string& url, const RequestHeaders& request) {
  curl_slist* list = nullptr;
  list = curl_slist_append(list, "Accept-Encoding: identity");  // the real size, never compressed
  if (!request.token.empty() && !request.token_host.empty() && origin_of(url) == request.token_host) {
    list = curl_slist_append(list, ("Authorization: Bearer " + request.token).c_str());
  }
  return list;
}

inline void common_options(CURL* curl, const std::string& url, Transfer& transfer, curl_slist* headers, long connect_timeout) {
  static const std::string agent = std::string("chord/") + CHORD_VERSION_STRING + "; " + curl_version();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, connect_timeout);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85: the string form; the bit masks are deprecated there
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

/// One libcurl request: the handle with the options every request shares, its headers, error buffer
/// and transfer state; released by perform() or, if never performed, by the destructor.
class Request {
 public:
  Request(const std::string& url, const RequestHeaders& request, long connect_timeout) {
    global_init();
    curl_ = curl_easy_init();
    CHORD_CHECK(curl_ != nullptr, "libcurl could not start a request");
    headers_ = make_headers(url, request);
    common_options(curl_, url, transfer_, headers_, connect_timeout);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_buffer_);
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request() { release(); }

  CURL* handle() const noexcept { return curl_; }
  Transfer& transfer() noexcept { return transfer_; }

  Response perform() {
    const CURLcode code = curl_easy_perform(curl_);
    if (code == CURLE_OK && transfer_.sink != nullptr) std::fflush(transfer_.sink);
    if (code != CURLE_OK) {
      transfer_.response.curl_code = code;
      transfer_.response.curl_error = error_buffer_[0] != '\0' ? error_buffer_ : curl_easy_strerror(code);
      if (!transfer_.write_error.empty()) transfer_.response.curl_error = transfer_.write_error;
    }
    release();
    return std::move(transfer_.response);
  }

 private:
  void release() noexcept {
    if (headers_ != nullptr) curl_slist_free_all(headers_);
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
    headers_ = nullptr;
    curl_ = nullptr;
  }

  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  Transfer transfer_;
  char error_buffer_[CURL_ERROR_SIZE] = {0};
};

}  // namespace detail

/// HEAD `url` without following redirects.
inline Response head(const std::string& url, const RequestHeaders& request, long timeout_seconds) {
  detail::Request call(url, request, timeout_seconds);
  curl_easy_setopt(call.handle(), CURLOPT_NOBODY, 1L);
  curl_easy_setopt(call.handle(), CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(call.handle(), CURLOPT_TIMEOUT, timeout_seconds);
  return call.perform();
}

/// GET `url` following redirects, appending to `sink` from byte `offset` (a Range request when > 0;
/// a server that ignores the range restarts the file). `progress` gets the bytes in the file so far.
/// A transfer with no byte for `stall_seconds` fails as a transport error.
inline Response get(const std::string& url, const RequestHeaders& request, std::FILE* sink, uint64_t offset, long connect_timeout,
                    long stall_seconds, std::function<void(uint64_t)> progress) {
  detail::Request call(url, request, connect_timeout);
  call.transfer().sink = sink;
  call.transfer().offset = offset;
  call.transfer().progress = std::move(progress);
  CURL* curl = call.handle();
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, stall_seconds);
  // CURLOPT_RANGE rather than RESUME_FROM: libcurl then lets a 200 through (on_body restarts the file)
  // instead of failing the transfer.
  const std::string range = std::to_string(offset) + "-";
  if (offset > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  return call.perform();
}

}  // namespace chord::hub::http
