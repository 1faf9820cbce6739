# Shared environment for chord's scripts. Sourced, never executed.
#
# Everything chord installs outside the checkout lives in one per-user cache, keyed by version, so a
# fresh clone (or a CI run) on a machine that already has it reuses it instead of downloading again.

CHORD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHORD_TORCH_VERSION="${CHORD_TORCH_VERSION:-2.11.0}"
CHORD_CACHE="${CHORD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chord}"
CHORD_VENV="${CHORD_VENV:-$CHORD_CACHE/torch-$CHORD_TORCH_VERSION}"
CHORD_PYTHON="$CHORD_VENV/bin/python"
CHORD_BUILD_DIR="${CHORD_BUILD_DIR:-$CHORD_ROOT/build}"
CHORD_JOBS="${CHORD_JOBS:-2}"

export CCACHE_DIR="${CCACHE_DIR:-$CHORD_CACHE/ccache}"
# PCH needs these sloppiness flags or every compile that uses the precompiled header is a miss.
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-8G}"
export CCACHE_BASEDIR="$CHORD_ROOT"

chord_log() { printf '[chord] %s\n' "$*" >&2; }

chord_torch_prefix() { "$CHORD_PYTHON" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)'; }
