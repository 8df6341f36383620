import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { backendNames, selectBackend } from '../src/backend/ladder.ts';

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

test('the automatic ladder never opens OpenGL ES: no Dawn warnings on a machine whose only adapter is a software one', async () => {
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
  } else {
    assert.equal(stdout.trim() === 'webgpu', Boolean(webgpu.automatic), `${stdout}\n${stderr}`);
  }
});
