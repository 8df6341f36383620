import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { backendNames, selectBackend } from '../src/backend/ladder.ts';
import { vulkanDriverListed } from '../src/backend/webgpu-adapter.ts';

const cli = fileURLToPath(new URL('../bin/streamfit.js', import.meta.url));

test('streamfit backends --json lists every rung in ladder order, why one is missing, and the WebGPU adapter', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'backends', '--json'], { encoding: 'utf8' });
  const report = JSON.parse(stdout.trim().split('\n').pop()!);
  assert.deepEqual(
    report.backends.map((rung: { name: string }) => rung.name),
    [...backendNames],
  );
  for (const rung of report.backends) {
    assert.equal(typeof rung.available, 'boolean', rung.name);
    if (!rung.available) assert.match(rung.reason, /\w/, `${rung.name} says why it is not available`);
  }
  const byName = Object.fromEntries(report.backends.map((rung: { name: string }) => [rung.name, rung]));
  assert.equal(byName.wasm.available, true);
  assert.equal(byName.cpu.available, true);
  // make webgpu-sim (a dependency of make test) guarantees an adapter: software here, a GPU's elsewhere.
  const adapter = byName.webgpu.adapter;
  assert.equal(byName.webgpu.available, true, byName.webgpu.reason);
  for (const field of ['vendor', 'architecture', 'device', 'description']) assert.equal(typeof adapter[field], 'string', field);
  assert.equal(typeof adapter.fallback, 'boolean');
  assert.ok(adapter.limits.maxStorageBufferBindingSize >= 2 ** 27, JSON.stringify(adapter.limits));
  assert.ok(adapter.limits.maxBufferSize >= 2 ** 28);
  assert.ok(Array.isArray(adapter.features));
  assert.equal(byName.webgpu.automatic, !adapter.software, 'a software adapter is used only when asked for');
  const firstAutomatic = report.backends.find((rung: { available: boolean; automatic: boolean }) => rung.available && rung.automatic);
  assert.equal(report.selected, firstAutomatic.name);
});

test('the webgpu device gets the adapter’s own buffer limits, and the ladder skips a software adapter', async () => {
  const webgpu = await selectBackend('webgpu');
  const adapter = webgpu.adapter!;
  assert.equal(adapter.deviceLimits.maxStorageBufferBindingSize, adapter.limits.maxStorageBufferBindingSize);
  assert.equal(adapter.deviceLimits.maxBufferSize, adapter.limits.maxBufferSize);
  if (adapter.software) {
    // What the ladder calls when nothing was asked for: a software adapter is refused, with the way to ask for it.
    const { startWebgpu } = await import('../src/backend/webgpu-backend.ts');
    await assert.rejects(startWebgpu(false), /software one .*--backend webgpu/);
  }
  await selectBackend('cpu');
});

test('the automatic ladder opens neither OpenGL ES nor a Vulkan without a driver: no Dawn warnings where only a software adapter is', async () => {
  const script = "import('./src/backend/ladder.ts').then(async (m) => console.log((await m.selectBackend()).name))";
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', script], {
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  const { stdout: report } = await promisify(execFile)(process.execPath, [cli, 'backends', '--json'], { encoding: 'utf8' });
  const webgpu = JSON.parse(report.trim().split('\n').pop()!).backends.find((rung: { name: string }) => rung.name === 'webgpu');
  if (webgpu.adapter?.api === 'opengles') {
    assert.notEqual(stdout.trim(), 'webgpu');
    assert.doesNotMatch(stderr, /Warning: .*artificially reduced/, stderr);
    // Nor Vulkan, where the loader has no driver to load (`make train` began with three lines of Dawn's warnings).
    if (!vulkanDriverListed()) assert.doesNotMatch(stderr, /vkCreateInstance/, stderr);
  } else {
    assert.equal(stdout.trim() === 'webgpu', Boolean(webgpu.automatic), `${stdout}\n${stderr}`);
  }
});

test('a Vulkan driver is listed where the loader looks: the files its variables name, else vulkan/icd.d in the XDG folders', () => {
  const files = new Set(['/opt/nvidia_icd.json', '/usr/share/vulkan/icd.d', '/home/u/.local/share/vulkan/icd.d', '/x/vulkan/icd.d']);
  const folders: Record<string, string[]> = {
    '/usr/share/vulkan/icd.d': ['lvp_icd.x86_64.json'],
    '/home/u/.local/share/vulkan/icd.d': ['README'],
    '/x/vulkan/icd.d': [],
  };
  const exists = (path: string) => files.has(path);
  const list = (path: string) => folders[path] ?? [];
  const listed = (env: NodeJS.ProcessEnv) => vulkanDriverListed(env, exists as never, list as never);
  assert.equal(listed({ HOME: '/home/u' }), true, "Debian's default data folder holds a manifest");
  assert.equal(listed({ HOME: '/home/u', XDG_DATA_DIRS: '/x' }), false, 'a README and an empty folder are no driver');
  assert.equal(listed({ HOME: '/home/u', XDG_DATA_DIRS: '/x', VK_DRIVER_FILES: '/opt/nvidia_icd.json' }), true);
  assert.equal(listed({ HOME: '/home/u', XDG_DATA_DIRS: '/x', VK_ICD_FILENAMES: '/missing.json:/opt/nvidia_icd.json' }), true);
  assert.equal(listed({ HOME: '/home/u', XDG_DATA_DIRS: '/x', VK_ADD_DRIVER_FILES: '/missing.json' }), false);
});
