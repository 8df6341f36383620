#!/usr/bin/env bash
# streamfit on a GPU box, in one script that finishes in under 8 minutes: the backend ladder and the WebGPU adapter,
# training steps of EfficientNet-B0 (224 px, batch 32; three runs, for the median ratio), B3 (300 px, batch 16) and B7
# (600 px, batch 8) on webgpu beside PyTorch on the same GPU (fp32 eager and autocast, when python3 imports torch), B0's
# host time against its kernels' GPU time, B7 at 600 px planned into 8 GiB and measured, the WGSL kernels against tfjs'
# own, and the box's CPU cores: wasm training workers, one per physical core, against one worker and PyTorch CPU on the
# same cores. Every figure goes to ${OUT:-.}/gpu-check.json; a table ends the output.
#
# Runs from a checkout with node_modules, or from a bare copy of the repo with .gpu/bundle.tar.xz (bench/gpu-pack.sh:
# the bundled CLI, dawn.node and a Node binary) and, for a box without the Vulkan loader, .gl/*.deb (unpacked into /).
# GPU_CHECK_QUICK=1 runs tiny sizes (to try the script on a software adapter).
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
budget=${GPU_CHECK_SECONDS:-450}
out=${OUT:-.}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { echo "gpu-check: $*" >&2; }

# The CLI: the bundle when there is one (a box with no registry), else this checkout through tsx.
if [ -f .gpu/bundle.tar.xz ]; then
  unpacked=${GPU_CHECK_DIR:-${TMPDIR:-/tmp}/streamfit-gpu}
  if [ ! -x "$unpacked/streamfit/node" ] || [ .gpu/bundle.tar.xz -nt "$unpacked/streamfit/streamfit.mjs" ]; then
    rm -rf "$unpacked" && mkdir -p "$unpacked"
    # tar needs the xz program for -J; Python's tarfile reads xz on its own.
    tar -xJf .gpu/bundle.tar.xz -C "$unpacked" 2>/dev/null ||
      python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' .gpu/bundle.tar.xz "$unpacked" ||
      { say "cannot unpack .gpu/bundle.tar.xz"; exit 1; }
    chmod +x "$unpacked/streamfit/node"
  fi
  node=("$unpacked/streamfit/node" --max-old-space-size=16384)
  cli=("${node[@]}" "$unpacked/streamfit/streamfit.mjs")
  profiler=("${node[@]}" "$unpacked/streamfit/webgpu-dispatches.mjs")
else
  command -v node >/dev/null || { say "no Node binary and no .gpu/bundle.tar.xz (make one with bench/gpu-pack.sh)"; exit 1; }
  node=(node --max-old-space-size=16384)
  cli=("${node[@]}" --import tsx cli/entry.ts)
  profiler=("${node[@]}" --import tsx bench/webgpu-dispatches.ts)
fi

# Vulkan: the loader from .gl/ when the box has none; the NVIDIA driver's ICD file when the loader finds no driver.
if [ -d .gl ] && ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  say "unpacking $(ls .gl/*.deb | wc -l) .deb files from .gl/ (no libvulkan.so.1 on this box)"
  for f in .gl/*.deb; do dpkg -x "$f" / || say "dpkg -x $f failed"; done
  ldconfig
fi

# Runs one step with what is left of the budget; keeps its last stdout line (the JSON), its stderr and timings.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((budget - ($(date +%s) - started)))
  ((left < limit)) && limit=$left
  if ((limit < 10)); then
    say "$name: skipped, out of time"
    echo '{"skipped":"out of time"}' >"$work/$name.json"
    return
  fi
  say "$name: $* (up to ${limit}s)"
  local begin=$(date +%s%N)
  timeout --kill-after=5 "$limit" "$@" >"$work/$name.out" 2>"$work/$name.err"
  local rc=$?
  echo "{\"rc\":$rc,\"seconds\":$((($(date +%s%N) - begin) / 1000000))}" >"$work/$name.status"
  tail -n 1 "$work/$name.out" >"$work/$name.json"
  tail -n 3 "$work/$name.err" | sed 's/^/    /' >&2
}

adapterKind() {
  "${node[@]}" -e '
    try {
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const w = r.backends.find((b) => b.name === "webgpu");
      console.log(!w.available ? "none" : w.adapter.software ? "software" : "hardware");
    } catch { console.log("none"); }' "$work/backends.json"
}

step backends 60 "${cli[@]}" backends --json
nvidiaIcd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ "$(adapterKind)" != hardware ] && [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidiaIcd" ]; then
  say "no hardware adapter yet: trying the NVIDIA ICD $nvidiaIcd"
  export VK_DRIVER_FILES=$nvidiaIcd
  step backends 60 "${cli[@]}" backends --json
fi

python=""
for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import torch, torchvision' 2>/dev/null; then python=$candidate; break; fi
done
pytorch=()
if [ -n "$python" ]; then
  export PYTHON=$python
  pytorch=(--pytorch)
else
  say "python3 does not import torch and torchvision: no PyTorch baseline"
fi

# Physical cores, counted as `--workers auto` counts them: distinct (physical id, core id) pairs, at most nproc.
cores=$(awk -F': ' '/^physical id/ { p = $2 } /^core id/ { print p ":" $2 }' /proc/cpuinfo 2>/dev/null | sort -u | wc -l)
((cores < 1 || cores > $(nproc))) && cores=$(nproc)
if [ "${GPU_CHECK_QUICK:-0}" = 1 ]; then
  b0=(--image-size 64 --batch 4 --steps 2) profile=(64 4 1) b3=(--image-size 64 --batch 2 --steps 1)
  b7=(--image-size 64 --batch 2 --steps 1)
  b7plan=(--image-size 64 --batch 4 --memory 2GiB) kernels=(--image-size 32 --batch 2 --repeats 1)
  cpu=(--image-size 32 --batch $((cores * 2)) --steps 1)
else
  b0=(--image-size 224 --batch 32 --steps 10) profile=(224 32 3) b3=(--image-size 300 --batch 16 --steps 10)
  b7=(--image-size 600 --batch 8 --steps 4)
  b7plan=(--image-size 600 --batch 32 --memory 8GiB) kernels=(--image-size 224 --batch 32 --repeats 5)
  cpu=(--image-size 128 --batch $((cores * 4)) --steps 3)
fi
step b0 170 "${cli[@]}" bench train --backend webgpu --model efficientnet-b0 "${b0[@]}" "${pytorch[@]}" --json
# Two more B0 runs beside PyTorch: both sides vary by a third from run to run on a shared box, so the ratio is judged by
# its median.
for run in 2 3; do
  step "b0run$run" 120 "${cli[@]}" bench train --backend webgpu --model efficientnet-b0 "${b0[@]}" "${pytorch[@]}" --json
done
# Host time against GPU time: dispatches and CPU milliseconds of warm steps, then one step's kernels timed on the GPU.
step profile 90 "${profiler[@]}" efficientnet-b0 "${profile[@]}" --profile
step b7plan 170 "${cli[@]}" plan --model efficientnet-b7 "${b7plan[@]}" --measure --backend webgpu --json
step b3 150 "${cli[@]}" bench train --backend webgpu --model efficientnet-b3 "${b3[@]}" "${pytorch[@]}" --json
# The recipe's own model and size, one micro-batch of 8: the step where the GPU's work, not the host's, is the larger part.
step b7 150 "${cli[@]}" bench train --backend webgpu --model efficientnet-b7 "${b7[@]}" "${pytorch[@]}" --json
step kernels 90 "${cli[@]}" bench kernels "${kernels[@]}" --json
if ((cores > 1)); then
  step cpu 240 "${cli[@]}" bench train --backend wasm --model efficientnet-b0 "${cpu[@]}" --workers "$cores" --workers-baseline 1 --ceiling "${pytorch[@]}" --json
else
  echo '{"skipped":"one core"}' >"$work/cpu.json"
fi

# One JSON file with every figure, then the table.
"${node[@]}" - "$work" "$out/gpu-check.json" "$(($(date +%s) - started))" "${GPU_CHECK_QUICK:-0}" "${VK_DRIVER_FILES:-}" <<'EOF'
const fs = require('fs');
const { execFileSync } = require('child_process');
const [work, file, seconds, quick, driverFiles] = process.argv.slice(2);
const read = (name, ext) => { try { return fs.readFileSync(`${work}/${name}.${ext}`, 'utf8'); } catch { return undefined; } };
const steps = {};
for (const name of ['backends', 'b0', 'b0run2', 'b0run3', 'profile', 'b7plan', 'b3', 'b7', 'kernels', 'cpu']) {
  let result;
  try { result = JSON.parse(read(name, 'json')); } catch { result = undefined; }
  const status = JSON.parse(read(name, 'status') ?? '{}');
  // The command's own one-line error is its last line of stderr.
  const error = status.rc !== 0 ? ((read(name, 'err') ?? '').trim().split('\n').pop() || `exit ${status.rc}`) : undefined;
  steps[name] = { ...status, ...(error ? { error } : {}), result };
}
let gpu;
try { gpu = execFileSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' }).trim(); } catch {}
const report = { check: 'gpu', quick: quick === '1', seconds: Number(seconds), gpu, vulkanDriverFiles: driverFiles || undefined, steps };
fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);

const ms = (v) => (v === undefined ? '—' : `${Number(v).toFixed(1)} ms`);
const gib = (v) => (v === undefined ? '—' : `${(v / 2 ** 30).toFixed(2)} GiB`);
const rows = [];
const webgpu = steps.backends.result?.backends?.find((b) => b.name === 'webgpu');
rows.push(['adapter', webgpu?.adapter ? `${webgpu.adapter.description || webgpu.adapter.device} (${webgpu.adapter.api}${webgpu.adapter.software ? ', software' : ''})` : webgpu?.reason ?? steps.backends.error ?? '—']);
for (const name of ['b0', 'b3', 'b7']) {
  const r = steps[name].result;
  if (!r?.msPerStep) { rows.push([name, steps[name].error ?? steps[name].result?.skipped ?? 'failed']); continue; }
  const runs = r.pytorch?.results ?? [];
  const torch = (p) => runs.find((x) => x.precision === p)?.msPerStep;
  const ratio = (p) => (torch(p) ? ` (${(r.msPerStep / torch(p)).toFixed(2)}×)` : '');
  rows.push([`${r.model} ${r.imageSize}px b${r.batchSize ?? r.batch}`, `webgpu ${ms(r.msPerStep)}, PyTorch fp32 ${ms(torch('fp32'))}${ratio('fp32')}, amp ${ms(torch('amp'))}${ratio('amp')}, GPU held ${gib(r.gpuBytesAfter)} (peak in use ${gib(r.gpuPeakBytes)}), tensors ${r.numTensorsBefore}→${r.numTensorsAfter}, ${r.dispatchesPerStep ?? '?'} dispatches and ${r.submitsPerStep ?? '?'} submits a step`]);
}
const b0Ratios = ['b0', 'b0run2', 'b0run3']
  .map((name) => steps[name].result)
  .filter((r) => r?.msPerStep && r.pytorch?.results?.some((x) => x.precision === 'fp32'))
  .map((r) => r.msPerStep / r.pytorch.results.find((x) => x.precision === 'fp32').msPerStep);
if (b0Ratios.length > 0) {
  const sorted = [...b0Ratios].sort((a, b) => a - b);
  report.b0MedianRatioToPytorchFp32 = Number(sorted[Math.floor(sorted.length / 2)].toFixed(2));
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  rows.push(['b0 ÷ PyTorch fp32, runs', `${b0Ratios.map((r) => `${r.toFixed(2)}×`).join(', ')} (median ${report.b0MedianRatioToPytorchFp32}×)`]);
}
const profile = steps.profile.result;
const top = Object.entries(profile?.gpuMsByKernel ?? {}).slice(0, 5).map(([name, { ms: t, calls }]) => `${name} ${t.toFixed(1)} (${calls})`);
rows.push(['b0 profile', profile?.msPerStep ? `${ms(profile.msPerStep)} a step (tfjs' own recording ${ms(profile.tfjsRecording?.msPerStep)}, ×${profile.speedupOverTfjsRecording}; unfused rebuilds ${ms(profile.unfusedRebuilds?.msPerStep)}; a submit every 60 dispatches ${ms(profile.fewerSubmits?.msPerStep)}), ${ms(profile.cpuMsPerStep)} of CPU, ${profile.dispatchesPerStep} dispatches, ${profile.submitsPerStep} submits; one step's kernels on the GPU ${ms(profile.gpuMsProfiledStep)}: ${top.join(', ')}` : steps.profile.error ?? 'failed']);
const plan = steps.b7plan.result;
rows.push(['b7 plan', plan?.microBatch ? `micro-batch ${plan.microBatch} × ${plan.accumulate}${plan.recompute ? ' + recompute' : ''}, predicted ${gib(plan.predictedPeakBytes)}, measured ${gib(plan.measuredPeakBytes)} (×${plan.measuredOverPredicted})${plan.gpuAllocatedBytes !== undefined ? `, GPU held ${gib(plan.gpuAllocatedBytes)}, peak in use ${gib(plan.gpuPeakBytes)}` : ''}` : steps.b7plan.error ?? 'failed']);
for (const k of steps.kernels.result?.kernels ?? []) rows.push([`  ${k.label}`, `tfjs ${ms(k.tfjsMs)} → streamfit ${ms(k.streamfitMs)} (×${k.speedup})`]);
if (!steps.kernels.result) rows.push(['kernels', steps.kernels.error ?? 'failed']);
const cpu = steps.cpu.result;
const torchCpu = cpu?.pytorch?.results?.find((x) => x.precision === 'fp32')?.msPerStep;
rows.push([
  cpu?.msPerStep ? `cpu b0 ${cpu.imageSize}px b${cpu.batchSize}` : 'cpu',
  cpu?.msPerStep
    ? `${cpu.workers} wasm workers ${ms(cpu.msPerStep)} (×${cpu.speedupOverOneWorker} one worker's ${ms(cpu.oneWorker?.msPerStep)}; ${cpu.workers} processes alone ×${cpu.ceilingSpeedupOverOneWorker}), PyTorch CPU ${cpu.workers} threads ${ms(torchCpu)}${torchCpu ? ` (${(cpu.msPerStep / torchCpu).toFixed(2)}×)` : ''}`
    : steps.cpu.error ?? cpu?.skipped ?? 'failed',
]);
console.log(`\nstreamfit gpu check (${seconds} s${quick === '1' ? ', quick' : ''})${gpu ? ` on ${gpu}` : ''}`);
for (const [k, v] of rows) console.log(`${k.padEnd(28)} ${v}`);
console.log(`→ ${file}`);
EOF
