#!/usr/bin/env bash
# The Hugging Face Hub client end to end against a local stand-in for the Hub (hub_server.py on
# 127.0.0.1, a free port, stopped after 100 s at most), one case per CTest test:
#   run_hub_tests.sh <case> <chord-fetch> <output folder> [python with huggingface_hub] [chord-f5tts-infer]
#                    [chord-saga-sr-train]
# Prints "ok: <case>" on success; exits 77 (CTest: skipped) with the reason when a case cannot run here.
set -euo pipefail
case_name=$1 fetch=$2 out=$3 hf_python=${4:-} infer=${5:-} sr_train=${6:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rm -rf "$out"
mkdir -p "$out"

fail() { echo "FAIL ($case_name): $*" >&2; exit 1; }
skip() { echo "skipped ($case_name): $*"; exit 77; }

python3 "$here/hub_server.py" --port-file "$out/port" --log "$out/server.log" --lifetime 100 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s $out/port ]] && break; sleep 0.1; done
[[ -s $out/port ]] || fail "the test server did not start"
port=$(cat "$out/port")

# A clean Hub environment: this server, a cache of the test's own, no token, fast retries.
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_TOKEN_PATH HF_HUB_OFFLINE TRANSFORMERS_OFFLINE HUGGINGFACE_HUB_CACHE
export HF_ENDPOINT="http://127.0.0.1:$port" HF_HOME="$out/hf_home" HF_HUB_CACHE="$out/cache" CHORD_HUB_BACKOFF_SECONDS=0.05
export HF_HUB_DISABLE_TELEMETRY=1
cache=$out/cache

# run <name> <command...>: output (both streams) in $out/<name>.out; the status in $status.
run() {
  local name=$1; shift
  set +e; "$@" >"$out/$name.out" 2>&1; status=$?; set -e
  echo "--- $name (exit $status): $*"; cat "$out/$name.out"
}
must_say() { grep -Eq -- "$2" "$out/$1.out" || fail "$1: the output does not say /$2/"; }
must_not_say() { ! grep -Fq -- "$2" "$out/$1.out" || fail "$1: the output says '$2'"; }
requests() { grep -Ec -- "$1" "$out/server.log" || true; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
repo_dir() { echo "$cache/models--${1//\//--}"; }

# A Python with huggingface_hub: CHORD_HUB_PYTHON, else the one given; the case is skipped without.
find_hf_python() {
  local candidate
  for candidate in "${CHORD_HUB_PYTHON:-}" "$hf_python"; do
    if [[ -n $candidate ]] && "$candidate" -c 'import huggingface_hub' 2>/dev/null; then hf_python=$candidate; return; fi
  done
  skip "no Python with huggingface_hub configured (set CHORD_HUB_PYTHON or -DCHORD_HUB_PYTHON=...)"
}

case $case_name in
  fresh)  # a fresh download: layout, symlinks, refs, sha256; the second run is served by the cache
    run first "$fetch" --repo chord-test/tiny --file config.json --file weights.bin --file sub/dir/vocab.txt
    [[ $status -eq 0 ]] || fail "download failed"
    must_say first "weights.bin: 20.0 kB/20.0 kB"
    must_say first "config.json: 23 B/23 B"
    must_say first "weights.bin: downloaded"
    root=$(repo_dir chord-test/tiny)
    commit=$(cat "$root/refs/main")
    [[ $commit =~ ^[0-9a-f]{40}$ ]] || fail "refs/main holds '$commit'"
    weights=$root/snapshots/$commit/weights.bin
    grep -qx "$weights" "$out/first.out" || fail "the printed paths miss $weights"
    link=$(readlink "$weights")
    [[ $link == ../../blobs/* ]] || fail "weights.bin links to '$link', not ../../blobs/<etag>"
    [[ $(sha "$weights") == "${link##*/}" ]] || fail "the LFS blob is not named by its sha256"
    [[ $(readlink "$root/snapshots/$commit/sub/dir/vocab.txt") == ../../../../blobs/* ]] || fail "nested file link"
    [[ -f $cache/.locks/models--chord-test--tiny/${link##*/}.lock ]] || fail "no lock file under .locks/"
    ! ls "$root"/blobs/*.incomplete >/dev/null 2>&1 || fail "an .incomplete file was left"
    gets=$(requests '^GET ')
    run second "$fetch" --repo chord-test/tiny --file config.json --file weights.bin
    [[ $status -eq 0 ]] || fail "second run failed"
    must_say second "weights.bin: in the cache"
    [[ $(requests '^GET ') -eq $gets ]] || fail "the second run downloaded again"
    ;;
  resume)  # the connection drops half-way: resumed with a Range request; an interrupted run resumes too
    run dropped "$fetch" --repo chord-test/flaky --file weights.bin
    [[ $status -eq 0 ]] || fail "the download did not survive the dropped connection"
    must_say dropped "retrying in"
    [[ $(requests '^GET /blobs/.* range=bytes=200000-') -eq 1 ]] || fail "no Range request from byte 200000"
    weights=$(tail -1 "$out/dropped.out")
    blob=$(readlink "$weights"); blob=${blob##*/}
    [[ $(sha "$weights") == "$blob" ]] || fail "the resumed file does not match its sha256"
    # A run killed at 150000 bytes left blobs/<etag>.incomplete: the next run goes on from there.
    mkdir -p "$out/cache2/models--chord-test--flaky/blobs"
    head -c 150000 "$weights" > "$out/cache2/models--chord-test--flaky/blobs/$blob.incomplete"
    HF_HUB_CACHE=$out/cache2 run interrupted "$fetch" --repo chord-test/flaky --file weights.bin
    [[ $status -eq 0 ]] || fail "resuming an interrupted run failed"
    must_say interrupted "resuming 'weights.bin' at 150000 bytes"
    [[ $(requests '^GET /blobs/.* range=bytes=150000-') -eq 1 ]] || fail "no Range request from byte 150000"
    [[ $(sha "$(tail -1 "$out/interrupted.out")") == "$blob" ]] || fail "the file resumed from an interrupted run is wrong"
    # 503 twice on the metadata request: retried with backoff.
    run unstable "$fetch" --repo chord-test/unstable --file weights.bin
    [[ $status -eq 0 ]] || fail "503s were not retried"
    [[ $(requests '^HEAD /chord-test/unstable/') -eq 3 ]] || fail "expected 3 HEAD requests (2 answered 503)"
    ;;
  corrupt)  # bytes that do not match the sha256 the Hub announced: deleted, reported, never cached
    for attempt in 1 2; do
      run corrupt$attempt "$fetch" --repo chord-test/corrupt --file weights.bin
      [[ $status -ne 0 ]] || fail "a corrupt download was accepted"
      must_say corrupt$attempt "is corrupt: its sha256 is [0-9a-f]{64}, the Hub says [0-9a-f]{64}"
      root=$(repo_dir chord-test/corrupt)
      [[ -z $(ls -A "$root/blobs") ]] || fail "something was left in blobs/: $(ls "$root/blobs")"
      [[ ! -e $root/snapshots ]] || [[ -z $(find "$root/snapshots" -type l) ]] || fail "a snapshot link was made"
    done
    [[ $(requests '^GET /blobs/') -eq 2 ]] || fail "the second attempt did not download again"
    ;;
  revision)  # branch and tag resolved to commits (refs written), a commit revision, errors naming what is missing
    run tag "$fetch" --repo chord-test/tiny --file config.json --revision v1.0
    [[ $status -eq 0 ]] || fail "tag download failed"
    grep -q '"dim": 4' "$(tail -1 "$out/tag.out")" || fail "v1.0's config.json is not the tag's"
    run branch "$fetch" --repo chord-test/tiny --file config.json
    grep -q '"dim": 8' "$(tail -1 "$out/branch.out")" || fail "main's config.json is not the branch's"
    root=$(repo_dir chord-test/tiny)
    v1=$(cat "$root/refs/v1.0") main=$(cat "$root/refs/main")
    [[ $v1 =~ ^[0-9a-f]{40}$ && $main =~ ^[0-9a-f]{40}$ && $v1 != "$main" ]] || fail "refs: v1.0=$v1 main=$main"
    heads=$(requests '^HEAD ')
    run commit "$fetch" --repo chord-test/tiny --file config.json --revision "$v1"
    grep -q '"dim": 4' "$(tail -1 "$out/commit.out")" || fail "the commit's file is wrong"
    [[ $(requests '^HEAD ') -eq $heads ]] || fail "a cached commit revision still asked the server"
    run missing_file "$fetch" --repo chord-test/tiny --file nothing.txt
    [[ $status -ne 0 ]] || fail "a missing file was not an error"
    must_say missing_file "'nothing.txt' of chord-test/tiny at revision 'main' not found"
    run missing_revision "$fetch" --repo chord-test/tiny --file config.json --revision v9
    must_say missing_revision "revision 'v9' not found in chord-test/tiny"
    ;;
  offline)  # HF_HUB_OFFLINE=1: the cache only, a clear message for what is missing, no request at all
    HF_HUB_OFFLINE=1 run absent "$fetch" --repo chord-test/tiny --file weights.bin
    [[ $status -ne 0 ]] || fail "offline without the file succeeded"
    must_say absent "offline \(HF_HUB_OFFLINE=1\): 'weights.bin' of chord-test/tiny at revision 'main' is not in the Hugging Face cache"
    must_say absent "chord-fetch --repo chord-test/tiny --file weights.bin"
    [[ ! -s $out/server.log ]] || fail "offline mode made requests"
    run online "$fetch" --repo chord-test/tiny --file weights.bin
    [[ $status -eq 0 ]] || fail "online download failed"
    before=$(wc -l < "$out/server.log")
    HF_HUB_OFFLINE=1 run cached "$fetch" --repo chord-test/tiny --file weights.bin
    [[ $status -eq 0 ]] || fail "offline with the file cached failed"
    [[ $(tail -1 "$out/cached.out") == "$(tail -1 "$out/online.out")" ]] || fail "offline found another path"
    HF_HUB_OFFLINE=1 run other_file "$fetch" --repo chord-test/tiny --file config.json
    must_say other_file "that commit lacks the file"
    [[ $(wc -l < "$out/server.log") -eq $before ]] || fail "offline mode made requests"
    # The cache made by Python's huggingface_hub (tests/fixtures/hub_cache), read offline.
    cp -a "$here/../fixtures/hub_cache" "$out/python_cache"
    HF_HUB_OFFLINE=1 HF_HUB_CACHE=$out/python_cache run python_made "$fetch" --repo chord-test/tiny --file weights.bin --file sub/dir/vocab.txt
    [[ $status -eq 0 ]] || fail "the Python-made cache was not read"
    HF_HUB_OFFLINE=1 HF_HUB_CACHE=$out/python_cache run python_made_tag "$fetch" --repo chord-test/tiny --file config.json --revision v1.0
    grep -q '"dim": 4' "$(tail -1 "$out/python_made_tag.out")" || fail "the Python-made v1.0 ref was not followed"
    ;;
  gated)  # 401 without a token, 403 with a refused one: what to do, and never the token itself
    run anonymous "$fetch" --repo chord-test/gated --file weights.bin
    [[ $status -ne 0 ]] || fail "a gated file was downloaded without a token"
    must_say anonymous "access refused \(HTTP 401"
    must_say anonymous "accept its licence while logged in"
    must_say anonymous "set HF_TOKEN"
    HF_TOKEN=hf_chordRefusedSecret5678 run refused "$fetch" --repo chord-test/gated --file weights.bin
    [[ $status -ne 0 ]] || fail "a refused token downloaded"
    must_say refused "access refused \(HTTP 403"
    must_say refused "a token was sent"
    must_not_say refused hf_chordRefusedSecret5678
    mkdir -p "$HF_HOME"
    printf 'hf_chordAcceptedToken1234\n' > "$HF_HOME/token"  # as `hf auth login` writes it
    run accepted "$fetch" --repo chord-test/gated --file weights.bin
    [[ $status -eq 0 ]] || fail "the accepted token (token file) did not download"
    must_not_say accepted hf_chordAcceptedToken1234
    [[ $(requests '^HEAD /chord-test/gated/.* auth=yes') -ge 1 ]] || fail "the token was not sent to the Hub"
    [[ $(requests '^GET /blobs/.* auth=yes') -eq 0 ]] || fail "the token was sent to the blob host"
    ;;
  concurrent)  # two processes download the same file: one waits on the lock, both succeed, one download
    "$fetch" --repo chord-test/slow --file weights.bin >"$out/a.out" 2>&1 & a=$!
    "$fetch" --repo chord-test/slow --file weights.bin >"$out/b.out" 2>&1 & b=$!
    wait $a || { cat "$out/a.out"; fail "process a failed"; }
    wait $b || { cat "$out/b.out"; fail "process b failed"; }
    cat "$out/a.out" "$out/b.out"
    [[ $(tail -1 "$out/a.out") == "$(tail -1 "$out/b.out")" ]] || fail "the two processes report different paths"
    [[ $(requests '^GET /blobs/') -eq 1 ]] || fail "expected one download, the server saw $(requests '^GET /blobs/')"
    weights=$(tail -1 "$out/a.out"); blob=$(readlink "$weights")
    [[ $(sha "$weights") == "${blob##*/}" ]] || fail "the file is wrong"
    ;;
  python_reads_chord)  # what chord downloaded, Python's huggingface_hub finds offline (same paths)
    find_hf_python
    run chord "$fetch" --repo chord-test/tiny --file weights.bin --file sub/dir/vocab.txt
    run chord_tag "$fetch" --repo chord-test/tiny --file config.json --revision v1.0
    [[ $status -eq 0 ]] || fail "chord's downloads failed"
    HF_HUB_OFFLINE=1 run python "$hf_python" -c '
import sys
from huggingface_hub import hf_hub_download, __version__
print("huggingface_hub", __version__)
for name in ["weights.bin", "sub/dir/vocab.txt"]:
    print(hf_hub_download("chord-test/tiny", name))
print(hf_hub_download("chord-test/tiny", "config.json", revision="v1.0"))'
    [[ $status -eq 0 ]] || fail "Python did not find chord's files offline"
    [[ $(sed -n 2,3p "$out/python.out") == "$(grep '^/' "$out/chord.out")" ]] || fail "Python resolved other paths"
    [[ $(tail -1 "$out/python.out") == "$(tail -1 "$out/chord_tag.out")" ]] || fail "Python resolved v1.0 elsewhere"
    ;;
  python_cache_fixture)  # tests/fixtures/hub_cache is what Python's huggingface_hub makes: regenerated, compared
    # (to refresh the fixture after a change to the test server: rm -r tests/fixtures/hub_cache and copy
    # $out/python_made there, .locks/ left out)
    find_hf_python
    HF_HUB_CACHE="$out/python_made" run python "$hf_python" -c '
from huggingface_hub import hf_hub_download, __version__
print("huggingface_hub", __version__)
for name in ["weights.bin", "sub/dir/vocab.txt", "config.json"]:
    print(hf_hub_download("chord-test/tiny", name))
print(hf_hub_download("chord-test/tiny", "config.json", revision="v1.0"))'
    [[ $status -eq 0 ]] || fail "Python's downloads failed"
    rm -rf "$out/python_made/.locks"
    listing() { (cd "$1" && find . -printf '%y %p %l\n' | sort); }
    diff <(listing "$here/../fixtures/hub_cache") <(listing "$out/python_made") || fail "the fixture's layout differs from Python's"
    diff -r "$here/../fixtures/hub_cache" "$out/python_made" || fail "the fixture's contents differ from Python's"
    ;;
  model_flag)  # --model on chord-f5tts-infer: resolved through the cache at the pinned commit, its sha256 checked
    [[ -n $infer ]] || skip "chord-f5tts-infer was not given"
    touch "$out/prompt.wav"
    pinned=84e5a410d9cead4de2f847e7c9369a6440bdfaca
    HF_HUB_OFFLINE=1 run offline_model "$infer" --model F5TTS_v1_Base --ref-audio "$out/prompt.wav" --ref-text "A prompt." --text "Hello." --out "$out/x.wav"
    [[ $status -ne 0 ]] || fail "--model offline with an empty cache succeeded"
    must_say offline_model "'F5TTS_v1_Base/model_1250000.safetensors' of SWivid/F5-TTS at revision '$pinned' is not in the Hugging Face cache"
    run wrong_model "$infer" --model vocos-mel-24khz --ref-audio "$out/prompt.wav" --ref-text "A prompt." --text "Hello." --out "$out/x.wav"
    must_say wrong_model "is not an F5-TTS checkpoint"
    run both "$infer" --model F5TTS_v1_Base --checkpoint x.safetensors --ref-audio "$out/prompt.wav" --ref-text "A prompt." --text "Hello." --out "$out/x.wav"
    must_say both "give --model or --checkpoint, not both"
    # Online at the pin: the server's stand-in bytes are not the published checkpoint, whose sha256 the
    # registry records: downloaded (the Hub's own sha256 holds), then refused, naming both hashes.
    run pinned_model "$infer" --model F5TTS_v1_Base --ref-audio "$out/prompt.wav" --ref-text "A prompt." --text "Hello." --out "$out/x.wav"
    [[ $status -ne 0 ]] || fail "stand-in bytes were taken for the pinned checkpoint"
    must_say pinned_model "at the pinned commit $pinned is not the file chord's registry names for F5TTS_v1_Base"
    must_say pinned_model "pinned 670900fd14e6c458b95da6e9ed317cdb20dbaf7a1c02ac06a05475a9d32b6a38"
    [[ $(requests "^HEAD /SWivid/F5-TTS/resolve/$pinned/F5TTS_v1_Base/model_1250000") -ge 1 ]] || fail "the pinned commit was not asked for"
    # Another revision, the user's choice: what the repository has there, no content check; the program
    # loads those paths (stand-in bytes here, so loading then fails, naming the file it was given).
    run online_model "$infer" --model F5TTS_v1_Base --model-revision main --ref-audio "$out/prompt.wav" --ref-text "A prompt." --text "Hello." --out "$out/x.wav"
    must_say online_model "model F5TTS_v1_Base: $cache/models--SWivid--F5-TTS/snapshots/[0-9a-f]{40}/F5TTS_v1_Base/model_1250000.safetensors"
    must_not_say online_model "registry names"
    [[ -L $(repo_dir SWivid/F5-TTS)/snapshots/$(cat "$(repo_dir SWivid/F5-TTS)/refs/main")/F5TTS_v1_Base/vocab.txt ]] || fail "the vocab was not fetched"
    # A pickled model named where a file goes: never read, the conversion named.
    run vocos_name "$infer" --checkpoint x.safetensors --vocoder vocos --vocos vocos-mel-24khz --ref-audio "$out/prompt.wav" --ref-text "A prompt." --text "Hello." --out "$out/x.wav"
    must_say vocos_name "--vocos vocos-mel-24khz: vocos-mel-24khz is published as a pickle"
    run list "$fetch" --list
    must_say list "^F5TTS_v1_Base"
    must_say list "F5TTS_v1_Base/model_1250000.safetensors  \(sha256 670900fd"
    must_say list "SWivid/F5-TTS @ $pinned"
    ;;
  published_parts)  # SAGA-SR's --pretransform oobleck:<name> and --text-encoder t5:<name> fetch the registry's files
    [[ -n $sr_train ]] || skip "chord-saga-sr-train was not given"
    echo '{"audio": "a.wav", "text": "x"}' > "$out/manifest.jsonl"
    run no_manifest "$sr_train" --pretransform oobleck:stable-audio-open-1.0 --out "$out/run"
    must_say no_manifest "--manifest is required"
    [[ $(requests "stable-audio-open") -eq 0 ]] || fail "a download started before the arguments were checked"
    run gated "$sr_train" --manifest "$out/manifest.jsonl" --pretransform oobleck:stable-audio-open-1.0 --out "$out/run"
    must_say gated "'model.safetensors' of stabilityai/stable-audio-open-1.0 at revision 'f21265c1e2710b3bd2386596943f0007f55f802e': access refused"
    must_say gated "accept its licence"
    run t5 "$sr_train" --manifest "$out/manifest.jsonl" --text-encoder t5:t5-base --out "$out/run"
    must_say t5 "--text-encoder t5:t5-base: $cache/models--t5-base/snapshots/a9723ea7f1b39c1eae772870f3b547bf6ef7e6c1"
    [[ -L $cache/models--t5-base/snapshots/a9723ea7f1b39c1eae772870f3b547bf6ef7e6c1/tokenizer.json ]] || fail "the T5 folder is incomplete"
    [[ $status -ne 0 ]] || fail "training ran on a manifest whose audio does not exist"
    run wrong_part "$sr_train" --manifest "$out/manifest.jsonl" --pretransform oobleck:t5-base --out "$out/run"
    must_say wrong_part "is for --text-encoder t5:"
    ;;
  server_faults)  # answers a Hub should not give, or gives under load: named, retried, nothing half-cached
    run badsize "$fetch" --repo chord-test/badsize --file weights.bin
    [[ $status -ne 0 ]] || fail "a size of '12abc' was accepted"
    must_say badsize "gives the file's size as '12abc', not a byte count"
    must_not_say badsize "stoull"
    run short "$fetch" --repo chord-test/short --file weights.bin
    [[ $status -ne 0 ]] || fail "a file shorter than announced was accepted"
    must_say short "received 30000 bytes, the Hub announced 30100; the download was deleted"
    [[ -z $(ls -A "$(repo_dir chord-test/short)/blobs") ]] || fail "something was left in blobs/: $(ls "$(repo_dir chord-test/short)/blobs")"
    run busy "$fetch" --repo chord-test/busy --file weights.bin
    [[ $status -eq 0 ]] || fail "429 twice then 200 did not succeed"
    must_say busy "weights.bin: downloaded"
    [[ $(requests '^HEAD /chord-test/busy/') -eq 3 ]] || fail "expected 3 HEADs (two rate-limited), got $(requests '^HEAD /chord-test/busy/')"
    run private "$fetch" --repo chord-test/private --file weights.bin
    [[ $status -ne 0 ]] || fail "a private repository's file was not an error"
    must_say private "'weights.bin' of chord-test/private at revision 'main': access refused"
    must_say private "The repository is private or gated \(or does not exist\)"
    must_say private "no token was sent"
    ;;
  fetch_by_name)  # chord-fetch <published name>: the registry's files, their checks at the pin, the conversion to run
    run unknown "$fetch" no-such-model
    [[ $status -ne 0 ]] || fail "an unknown name was not an error"
    must_say unknown "no-such-model"
    must_say unknown "--list"
    pinned=0feb3fdd929bcd6649e0e7c5a688cf7dd012ef21
    run at_pin "$fetch" vocos-mel-24khz
    [[ $status -ne 0 ]] || fail "stand-in bytes were taken for the pinned Vocos files"
    must_say at_pin "at the pinned commit $pinned is not the file chord's registry names for vocos-mel-24khz"
    run at_main "$fetch" vocos-mel-24khz --revision main
    [[ $status -eq 0 ]] || fail "vocos-mel-24khz at main failed"
    snapshot="$(repo_dir charactr/vocos-mel-24khz)/snapshots/$(cat "$(repo_dir charactr/vocos-mel-24khz)/refs/main")"
    grep -qx "$snapshot/config.yaml" "$out/at_main.out" || fail "config.yaml's path was not printed"
    grep -qx "$snapshot/pytorch_model.bin" "$out/at_main.out" || fail "pytorch_model.bin's path was not printed"
    must_say at_main "vocos-mel-24khz needs a conversion for chord"
    must_say at_main "python scripts/convert_vocos.py --local-dir $snapshot --out vocos-mel-24khz.safetensors"
    must_say at_main "use: chord-f5tts-infer ... --vocoder vocos --vocos vocos-mel-24khz.safetensors"
    must_not_say at_main "sha256 as pinned"
    run t5 "$fetch" t5-base
    [[ $status -eq 0 ]] || fail "t5-base at its pin failed"
    must_say t5 "use: chord-saga-sr-train ... --text-encoder t5:t5-base"
    [[ -L $cache/models--t5-base/snapshots/a9723ea7f1b39c1eae772870f3b547bf6ef7e6c1/model.safetensors ]] || fail "t5-base's weights are not in the cache"
    ;;
  *) fail "unknown case" ;;
esac
echo "ok: $case_name"
