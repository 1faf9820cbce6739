#!/usr/bin/env bash
# Installs everything chord needs, from Debian's packages and PyPI. Idempotent: when everything is
# present it only checks and returns (well under a second).
#
#   scripts/setup.sh            system packages + the LibTorch venv (what build, tests and demos need)
#   scripts/setup.sh --reference   also the reference venv used to regenerate parity fixtures
#                                  (f5-tts, torchaudio, librosa, ema-pytorch, tensorboard; never needed by CI)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

want_reference=0
for arg in "$@"; do
  case "$arg" in
    --reference) want_reference=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) chord_log "unknown argument: $arg"; exit 2 ;;
  esac
done

# --- Debian packages ------------------------------------------------------------------------------
debian_packages=(
  build-essential cmake ninja-build ccache lld pkg-config git
  python3 python3-venv
  libfmt-dev catch2 libbenchmark-dev libcli11-dev nlohmann-json3-dev libstb-dev
  libsndfile1-dev libsoxr-dev libliquid-dev libespeak-ng-dev espeak-ng
  libgloo-dev  # headers of the Gloo backend (multi-process CPU training): not shipped in the torch wheel
  clang libclang-rt-14-dev  # libFuzzer and clang's sanitizers for scripts/fuzz.sh
  libcurl4-openssl-dev  # the Hugging Face Hub client (chord/hub, chord-fetch, --model); optional to the build
)
missing=()
for pkg in "${debian_packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  chord_log "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- LibTorch through the PyPI torch wheel, in a per-user venv keyed by the torch version ----------
mkdir -p "$CHORD_CACHE"
exec 9>"$CHORD_CACHE/.setup.lock"
flock 9   # two set-ups at once (a demo and a test run) must not build the same venv twice

python_base=$(command -v python3)
install_venv() {  # venv-dir, marker, pip packages...
  local dir=$1 marker=$2; shift 2
  if [[ -f "$dir/$marker" ]]; then return; fi
  chord_log "creating $dir (one-time; a few GB from PyPI)"
  rm -rf "$dir"
  "$python_base" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
  touch "$dir/$marker"
}
install_venv "$CHORD_VENV" .chord-complete "torch==$CHORD_TORCH_VERSION" numpy safetensors
# Python's Hub client, for the test that Python finds what chord downloaded (tests/hub: same cache layout).
# Checked on its own, so a venv made before this line gets it too.
if ! "$CHORD_PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("huggingface_hub") is None)'; then
  chord_log "adding huggingface_hub to $CHORD_VENV (one-time)"
  "$CHORD_PYTHON" -m pip install -q --disable-pip-version-check "huggingface_hub==1.33.0"
fi

if ((want_reference)); then
  # The reference venv shares the exact torch build above (a .pth line puts its site-packages on the
  # path), so fixtures come from the same ATen kernels chord links against.
  ref="$CHORD_CACHE/reference-torch-$CHORD_TORCH_VERSION"
  if [[ ! -f "$ref/.chord-complete" ]]; then
    rm -rf "$ref"; "$python_base" -m venv "$ref"
    site=$("$CHORD_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    ref_site=$("$ref/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$site" > "$ref_site/chord-torch.pth"
    "$ref/bin/python" -m pip install -q --disable-pip-version-check \
      "torchaudio==$CHORD_TORCH_VERSION" librosa==0.11.0 ema-pytorch==0.8.3 tensorboard safetensors \
      "f5-tts==1.1.20" x_transformers
    # stable-audio-tools pins an old torch and a training stack the fixtures do not use: its model
    # code alone (tests/parity/make_saga_sr_fixtures.py imports the modules directly).
    "$ref/bin/python" -m pip install -q --disable-pip-version-check --no-deps "stable-audio-tools==0.0.19" einops-exts
    touch "$ref/.chord-complete"
  fi
  # Added since the first reference venvs: the Oobleck autoencoder module imports alias-free-torch.
  "$ref/bin/python" -c 'import alias_free_torch' 2>/dev/null ||
    "$ref/bin/python" -m pip install -q --disable-pip-version-check --no-deps alias-free-torch==0.0.6
fi

command -v ccache >/dev/null && ccache --max-size "$CCACHE_MAXSIZE" >/dev/null 2>&1 || true
exit 0
