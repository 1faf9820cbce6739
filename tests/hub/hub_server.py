#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub's file API on 127.0.0.1, for chord's Hub client tests.

Speaks the subset `hf_hub_download` and chord use: HEAD/GET `/{repo}/resolve/{revision}/{file}` with
X-Repo-Commit, ETag / X-Linked-Etag, X-Linked-Size; LFS files answer with a 302 to `/blobs/<sha256>`
(on `localhost`: another host, as the CDN is), regular files with their bytes; Range requests; 401/403/404 with X-Error-Code.
Standard library only (CI runs it with the system python3).

    hub_server.py --port-file PATH --log PATH [--lifetime SECONDS]

Repositories (small generated files, the same on every run):
  chord-test/tiny      main and v1.0 (two commits): config.json (regular), weights.bin (LFS),
                       sub/dir/vocab.txt (regular)
  chord-test/flaky     weights.bin (LFS): the first GET of the blob stops half-way (connection dropped)
  chord-test/unstable  weights.bin (LFS): the first two HEADs answer 503
  chord-test/corrupt   weights.bin (LFS): the bytes served do not match the sha256 announced
  chord-test/gated     weights.bin (LFS): 401 without a token, 403 with one other than `hf_chordAcceptedToken1234`
  chord-test/slow      weights.bin (LFS, 2 MB) served over about 2 s (for the concurrent-download test)
  chord-test/badsize   weights.bin (LFS): X-Linked-Size is "12abc", not a byte count
  chord-test/short     weights.bin (LFS): X-Linked-Size announces 100 bytes more than the blob has
  chord-test/busy      weights.bin (LFS): the first two HEADs answer 429 (rate limited)
  (any other repo)     401 RepoNotFound, as the Hub answers for a private or missing repository
  charactr/vocos-mel-24khz  the registry's Vocos files (a pickle that needs conversion), stand-in bytes, at
                       main and at the registry's pinned commit
  SWivid/F5-TTS        the registry's F5TTS_v1_Base paths, with stand-in bytes (for --model), at main and
                       at the registry's pinned commit
  stabilityai/stable-audio-open-1.0, google-t5/t5-base   the registry's files at its pins, stand-in bytes
                       (the first gated like chord-test/gated; t5-base redirects to the second, as on the Hub)
The log gets one line per request: `METHOD path range=<Range or -> auth=<yes|no>` (never the token).
"""
import argparse
import hashlib
import http.server
import os
import random
import re
import threading
import time

ACCEPTED_TOKEN = "hf_chordAcceptedToken1234"


def blob_id(data):
    """The git blob id (what the Hub's ETag is for regular files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def generated(seed, size):
    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(size))


def commit(name):
    return hashlib.sha1(name.encode()).hexdigest()


class File:
    def __init__(self, data, lfs, served=None, size_header=None):
        self.data = data
        self.lfs = lfs
        self.served = data if served is None else served  # the corrupt repository serves other bytes
        self.etag = hashlib.sha256(data).hexdigest() if lfs else blob_id(data)
        self.size_header = str(len(data)) if size_header is None else size_header  # what X-Linked-Size says


# The commits chord's registry pins (include/chord/hub/registry.hpp).
F5_PINNED = "84e5a410d9cead4de2f847e7c9369a6440bdfaca"
SAO_PINNED = "f21265c1e2710b3bd2386596943f0007f55f802e"
T5_PINNED = "a9723ea7f1b39c1eae772870f3b547bf6ef7e6c1"
VOCOS_PINNED = "0feb3fdd929bcd6649e0e7c5a688cf7dd012ef21"


def make_repos():
    tiny_main = {
        "config.json": File(b'{"dim": 8, "depth": 2}\n', lfs=False),
        "weights.bin": File(generated(1, 20_000), lfs=True),
        "sub/dir/vocab.txt": File("a\nb\nc\n\u00e9\n".encode(), lfs=False),
    }
    tiny_v1 = {
        "config.json": File(b'{"dim": 4, "depth": 1}\n', lfs=False),
        "weights.bin": File(generated(2, 12_000), lfs=True),
        "sub/dir/vocab.txt": tiny_main["sub/dir/vocab.txt"],
    }
    f5_files = {
        "F5TTS_v1_Base/model_1250000.safetensors": File(b"not a safetensors file", lfs=True),
        "F5TTS_v1_Base/vocab.txt": File(b" \na\nb\n", lfs=False)}
    good = generated(3, 250_000)
    bad = bytearray(good)
    bad[1000] ^= 0xFF
    repos = {
        "chord-test/tiny": {"main": commit("tiny-2"), "v1.0": commit("tiny-1"),
                            "commits": {commit("tiny-2"): tiny_main, commit("tiny-1"): tiny_v1}},
        "chord-test/flaky": {"main": commit("flaky"), "commits": {commit("flaky"): {"weights.bin": File(generated(4, 400_000), lfs=True)}}},
        "chord-test/unstable": {"main": commit("unstable"), "commits": {commit("unstable"): {"weights.bin": File(generated(5, 50_000), lfs=True)}}},
        "chord-test/corrupt": {"main": commit("corrupt"), "commits": {commit("corrupt"): {"weights.bin": File(good, lfs=True, served=bytes(bad))}}},
        "chord-test/gated": {"main": commit("gated"), "commits": {commit("gated"): {"weights.bin": File(generated(6, 10_000), lfs=True)}}},
        "chord-test/slow": {"main": commit("slow"), "commits": {commit("slow"): {"weights.bin": File(generated(7, 2_000_000), lfs=True)}}},
        "chord-test/badsize": {"main": commit("badsize"), "commits": {commit("badsize"): {
            "weights.bin": File(generated(9, 5_000), lfs=True, size_header="12abc")}}},
        "chord-test/short": {"main": commit("short"), "commits": {commit("short"): {
            "weights.bin": File(generated(10, 30_000), lfs=True, size_header="30100")}}},
        "chord-test/busy": {"main": commit("busy"), "commits": {commit("busy"): {"weights.bin": File(generated(11, 8_000), lfs=True)}}},
        # The registry's F5-TTS paths (not a real checkpoint: the --model test checks where paths lead),
        # at main and at the commit the registry pins, whose real files have other sha256s.
        "SWivid/F5-TTS": {"main": commit("f5"), "commits": {commit("f5"): f5_files, F5_PINNED: f5_files}},
        # The registry's SAGA-SR parts at their pins: Stable Audio Open gated, a stand-in T5 folder.
        "stabilityai/stable-audio-open-1.0": {"main": SAO_PINNED, "commits": {SAO_PINNED: {
            "model.safetensors": File(generated(8, 1000), lfs=True), "model_config.json": File(b"{}\n", lfs=False)}}},
        "charactr/vocos-mel-24khz": {"main": commit("vocos"), "commits": dict.fromkeys((commit("vocos"), VOCOS_PINNED), {
            "config.yaml": File(b"feature_extractor: {}\n", lfs=False), "pytorch_model.bin": File(generated(12, 3_000), lfs=True)})},
        "google-t5/t5-base": {"main": T5_PINNED, "commits": {T5_PINNED: {
            "config.json": File(b'{"d_model": 8}\n', lfs=False), "model.safetensors": File(b"not a safetensors file", lfs=True),
            "tokenizer.json": File(b"{}\n", lfs=False)}}},
    }
    return repos


REPOS = make_repos()
RENAMED = {"t5-base": "google-t5/t5-base"}
BLOBS = {}  # sha256 → (repo, File)
for _repo, _info in REPOS.items():
    for _files in _info["commits"].values():
        for _file in _files.values():
            if _file.lfs:
                BLOBS[_file.etag] = (_repo, _file)

STATE = {"flaky_dropped": False, "unstable_heads": 0, "busy_heads": 0}
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chord-test-hub/1"
    log_path = None

    def log_message(self, format, *args):  # quiet on stderr; requests go to the log file
        pass

    def record(self):
        auth = "yes" if self.headers.get("Authorization") else "no"
        line = f"{self.command} {self.path} range={self.headers.get('Range', '-')} auth={auth}\n"
        with LOCK, open(self.log_path, "a") as log:
            log.write(line)

    def send(self, status, headers, body=b""):
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def error(self, status, code, message, extra=None):
        headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
        headers.update(extra or {})
        self.send(status, headers, ('{"error": "%s"}' % message).encode())

    def do_HEAD(self):
        self.handle_request()

    def do_GET(self):
        self.handle_request()

    def handle_request(self):
        self.record()
        path = self.path.split("?")[0]
        if path.startswith("/blobs/"):
            return self.serve_blob(path[len("/blobs/"):])
        match = re.fullmatch(r"/((?:[^/]+/)?[^/]+)/resolve/([^/]+)/(.+)", path)
        if not match:
            return self.error(404, "EntryNotFound", "no such route")
        repo, revision, filename = match.group(1), match.group(2).replace("%2F", "/"), match.group(3)
        if repo in RENAMED:  # a repository moved under an organisation: the Hub redirects on its own host
            return self.send(307, {"Location": f"/{RENAMED[repo]}/resolve/{match.group(2)}/{filename}"})
        info = REPOS.get(repo)
        if info is None:
            return self.error(401, "RepoNotFound", f"Repository Not Found for url: {self.path}.")
        if repo in ("chord-test/gated", "stabilityai/stable-audio-open-1.0"):
            auth = self.headers.get("Authorization", "")
            if not auth:
                return self.error(401, "GatedRepo", f"Access to model {repo} is restricted. You must have access to it and be authenticated to access it. Please log in.")
            if auth != f"Bearer {ACCEPTED_TOKEN}":
                return self.error(403, "GatedRepo", f"Access to model {repo} is restricted and you are not in the authorized list. Visit https://huggingface.co/{repo} to ask for access.")
        if repo == "chord-test/unstable" and self.command == "HEAD":
            with LOCK:
                STATE["unstable_heads"] += 1
                failing = STATE["unstable_heads"] <= 2
            if failing:
                return self.error(503, "ServiceUnavailable", "try again later")
        if repo == "chord-test/busy" and self.command == "HEAD":
            with LOCK:
                STATE["busy_heads"] += 1
                failing = STATE["busy_heads"] <= 2
            if failing:
                return self.error(429, "TooManyRequests", "rate limited", {"Retry-After": "0"})
        commit_id = info.get(revision, revision)
        files = info["commits"].get(commit_id)
        if files is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        file = files.get(filename)
        if file is None:
            return self.error(404, "EntryNotFound", f"Entry not found for {filename}", {"X-Repo-Commit": commit_id})
        headers = {"X-Repo-Commit": commit_id, "Accept-Ranges": "bytes"}
        if file.lfs:
            headers.update({
                "X-Linked-Etag": f'"{file.etag}"', "X-Linked-Size": file.size_header,
                "ETag": f'"{blob_id(file.data)}"',  # the pointer file's id, as the Hub sends
                "Location": f"http://localhost:{self.server.server_port}/blobs/{file.etag}?signature=x",  # another host, like the CDN
            })
            return self.send(302, headers)
        headers["ETag"] = f'"{file.etag}"'
        return self.serve_bytes(file.served, headers)

    def serve_blob(self, sha):
        if sha not in BLOBS:
            return self.error(404, "EntryNotFound", "no such blob")
        repo, file = BLOBS[sha]
        data = file.served
        if repo == "chord-test/flaky" and self.command == "GET" and "Range" not in self.headers:
            with LOCK:
                drop = not STATE["flaky_dropped"]
                STATE["flaky_dropped"] = True
            if drop:  # announce the whole file, send half, hang up
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
        self.serve_bytes(data, {"ETag": f'"{sha}"'}, slow=(repo == "chord-test/slow"))

    def serve_bytes(self, data, headers, slow=False):
        status, start = 200, 0
        requested = self.headers.get("Range")
        if requested:
            match = re.fullmatch(r"bytes=(\d+)-", requested)
            start = int(match.group(1)) if match else 0
            if start >= len(data):
                return self.send(416, {"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers = dict(headers, **{"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
        body = data[start:]
        if not slow or self.command == "HEAD":
            return self.send(status, dict(headers, **{"Content-Length": str(len(body))}), body)
        self.send_response(status)
        for key, value in dict(headers, **{"Content-Length": str(len(body))}).items():
            self.send_header(key, value)
        self.end_headers()
        step = max(1, len(body) // 20)
        for at in range(0, len(body), step):
            self.wfile.write(body[at:at + step])
            self.wfile.flush()
            time.sleep(0.1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--lifetime", type=float, default=300.0, help="stop after this many seconds, whatever happens")
    args = parser.parse_args()
    Handler.log_path = args.log
    open(args.log, "w").close()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    with open(args.port_file + ".tmp", "w") as out:
        out.write(str(server.server_port))
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
