#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs on a GPU box that reaches no package registry into ONE xz tarball,
# .gpu/bundle.tar.xz (git-ignored, ~30 MB): the CLI and its training worker bundled by the esbuild that tsx installs, the
# wasm files (tfjs-wasm's and streamfit's kernels), Dawn's dawn.node with its loader, the PyTorch baseline script and
# this machine's Node binary. Also fetches the Vulkan loader and GL dispatch .deb
# files into .gl/ when that folder is missing (gpu-check.sh unpacks them on a box without libvulkan.so.1).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/esbuild ] || { echo "gpu-pack: run make setup first (needs node_modules)" >&2; exit 1; }
[ -f node_modules/webgpu/dist/linux-x64/dawn.node ] || { echo "gpu-pack: node_modules/webgpu has no linux-x64 dawn.node" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/streamfit"
mkdir -p "$root/node_modules/webgpu/dist/linux-x64"
# webgpu stays external (a native module, loaded from node_modules beside the bundle); class names are kept (the dispatch
# counts name tfjs' programs by class); CommonJS code in the bundle gets a real require and __dirname through the banner
# (tfjs-wasm finds its .wasm files beside the bundle by __dirname). The training worker is a second entry point, at the
# path the main thread starts it from (training-worker.mjs beside the code), so `--workers N` runs from the bundle too;
# the third is the step profile (bench/webgpu-dispatches.ts).
# No --splitting: a dynamic import of a CommonJS package from a chunk yields its exports under `default` only.
node_modules/.bin/esbuild streamfit=cli/entry.ts training-worker=src/train/workers/training-worker.ts \
  webgpu-dispatches=bench/webgpu-dispatches.ts \
  --bundle --platform=node --format=esm --keep-names --external:webgpu --out-extension:.js=.mjs \
  --banner:js="import { createRequire as __cr } from 'module'; import { fileURLToPath as __fu } from 'url'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __fu(new URL('.', import.meta.url));" \
  --outdir="$root" --log-level=warning
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$root/"
mkdir -p "$root/assembly"
cp src/kernels/assembly/kernels.wasm "$root/assembly/"
cp bench/pytorch_train.py "$root/"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$root/node_modules/webgpu/"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$root/node_modules/webgpu/dist/linux-x64/"
cp "$(readlink -f "$(command -v node)")" "$root/node"
mkdir -p .gpu
XZ_OPT="-6 -T2" tar -C "$stage" -cJf .gpu/bundle.tar.xz streamfit
echo "gpu-pack: .gpu/bundle.tar.xz $(du -h .gpu/bundle.tar.xz | cut -f1) (node $(node --version), dawn $(node -p "require('./node_modules/webgpu/package.json').version"))" >&2

if [ ! -d .gl ] || ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl
  # The packages the NVIDIA Vulkan driver needs beside it: the loader and the GL dispatch libraries its ICD links.
  (cd .gl && apt-get download libvulkan1 libglvnd0 libegl1 libgles2 libgl1 libglx0 libopengl0 2>/dev/null) ||
    echo "gpu-pack: could not fetch the .deb files into .gl/ (apt-get download); gpu-check.sh then needs libvulkan.so.1 on the box" >&2
fi
ls .gl >&2
