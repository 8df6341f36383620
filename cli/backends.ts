// `streamfit backends`: every rung of the backend ladder, whether it can start here and why not, and the WebGPU adapter.

import { probeBackends } from '../src/backend/probe.ts';
import { parseFlags, report } from './args.ts';
import { backendsFlags } from './flags.ts';

export async function backendsCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, backendsFlags);
  const result = await probeBackends();
  const lines = result.backends.map((rung) => {
    const state = rung.available ? (rung.automatic ? 'available' : 'on request') : 'unavailable';
    const version = rung.version ? ` ${rung.version}` : '';
    return `${rung.name.padEnd(14)} ${state.padEnd(12)}${version}${rung.reason ? `  (${rung.reason})` : ''}`;
  });
  const adapter = result.backends.find((rung) => rung.adapter)?.adapter;
  if (adapter) {
    lines.push(
      `webgpu adapter: ${adapter.description || adapter.device} — vendor '${adapter.vendor}', architecture '${adapter.architecture}', device '${adapter.device}', ${adapter.api}${adapter.fallback ? ', fallback' : ''}${adapter.software ? ', software' : ''} (Dawn ${adapter.dawn})`,
      `  maxStorageBufferBindingSize ${adapter.limits.maxStorageBufferBindingSize}, maxBufferSize ${adapter.limits.maxBufferSize}, maxComputeWorkgroupStorageSize ${adapter.limits.maxComputeWorkgroupStorageSize}`,
      `  features: ${adapter.features.join(', ')}`,
    );
  }
  lines.push(`the ladder picks: ${result.selected ?? 'nothing'}`);
  report(values.json, result, lines.join('\n'));
}
