#!/usr/bin/env bash
# A software WebGPU adapter for machines without a GPU, from the distribution's own packages: Dawn's OpenGL ES backend on
# Mesa's llvmpipe. Idempotent: installs only what is missing, then checks that `streamfit` finds the adapter.
#
# Why this one: Debian 12's Vulkan lavapipe (Mesa 22.3) lacks features this Dawn requires; Mesa 25's lavapipe from
# bookworm-backports works too, but it needs an extra apt suite, replaces the system's Mesa, and ran the webgpu tests
# with ~10 % more CPU time than OpenGL ES on Debian 12's llvmpipe (see README, "GPUs: the WebGPU backend").
set -euo pipefail
cd "$(dirname "$0")/.."

# dawn.node dlopens libEGL.so (the unversioned name, from libegl-dev); Mesa's EGL and llvmpipe do the work.
packages=(libegl1 libegl-dev libegl-mesa0 libgl1-mesa-dri libgles2)
missing=()
if command -v dpkg-query >/dev/null; then
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$package")
  done
fi

if ((${#missing[@]} > 0)); then
  if ! command -v apt-get >/dev/null; then
    echo "webgpu-sim: apt-get not found; install the equivalents of: ${missing[*]}" >&2
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "webgpu-sim: run as root (or with sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "webgpu-sim: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The proof: streamfit's own probe finds an adapter (with no environment variables set by the user).
if ! bin/streamfit.js backends --json 2>/dev/null | node -e '
  const report = JSON.parse(require("fs").readFileSync(0, "utf8").trim().split("\n").pop());
  const webgpu = report.backends.find((rung) => rung.name === "webgpu");
  if (!webgpu.available) { console.error(`webgpu-sim: no adapter: ${webgpu.reason}`); process.exit(1); }
  console.error(`webgpu-sim: ${webgpu.adapter.description || webgpu.adapter.device} (${webgpu.adapter.api}${webgpu.adapter.software ? ", software" : ""})`);
'; then
  exit 1
fi
