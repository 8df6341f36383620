// Compiles the AssemblyScript kernels (src/kernels/assembly/) into src/kernels/assembly/kernels.wasm, the artifact the
// engine loads. With --check it compiles in memory and fails if the committed artifact differs (make test runs that).
// Usage: tsx scripts/build-kernels.ts [--check]

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = 'src/kernels/assembly/index.ts';
const artifact = 'src/kernels/assembly/kernels.wasm';

// The module runs on tfjs-wasm's memory: it imports it, has no runtime (no allocation), no abort message, no static data.
const flags = [
  '--optimizeLevel',
  '3',
  '--shrinkLevel',
  '0',
  '--noAssert',
  '--runtime',
  'stub',
  '--importMemory',
  '--noExportMemory',
  '--enable',
  'simd',
  '--use',
  'abort=',
  // AS112: v128 values at the boundary of a module-internal export; no v128 crosses to JavaScript.
  '--disableWarning',
  '112',
];

/** The section ids of a WebAssembly binary, in order. */
function sectionIds(binary: Uint8Array): number[] {
  const ids: number[] = [];
  let offset = 8;
  while (offset < binary.length) {
    const id = binary[offset++];
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = binary[offset++];
      size |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    ids.push(id);
    offset += size;
  }
  return ids;
}

/** Refuses a module that could write to tfjs' heap on its own: data segments (11), a start function (8), any import but memory. */
function checkIsolated(binary: Uint8Array): void {
  const ids = sectionIds(binary);
  if (ids.includes(11) || ids.includes(8)) throw new Error(`${artifact}: the module has data segments or a start function`);
  const imports = WebAssembly.Module.imports(new WebAssembly.Module(binary as Uint8Array<ArrayBuffer>));
  if (imports.length !== 1 || imports[0].module !== 'env' || imports[0].name !== 'memory' || imports[0].kind !== 'memory')
    throw new Error(`${artifact}: the module must import only env.memory, got ${JSON.stringify(imports)}`);
}

export async function compileKernels(): Promise<Uint8Array> {
  let binary: Uint8Array | undefined;
  const errors: string[] = [];
  const { error } = await asc.main([entry, '--outFile', artifact, ...flags], {
    writeFile: (name, contents) => {
      if (name.endsWith('.wasm')) binary = contents as Uint8Array;
    },
    stderr: { write: (text: string | Uint8Array) => errors.push(String(text)) } as never,
  });
  if (error || !binary) throw new Error(`asc failed: ${error?.message ?? 'no binary'}\n${errors.join('')}`);
  checkIsolated(binary);
  return binary;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.chdir(root);
  const binary = await compileKernels();
  if (process.argv.includes('--check')) {
    const committed = readFileSync(artifact);
    if (!Buffer.from(binary).equals(committed)) {
      process.stderr.write(`${artifact} does not match its sources (src/kernels/assembly/*.ts): run make kernels and commit it\n`);
      process.exit(1);
    }
    process.stdout.write(`${artifact} matches its sources (${binary.length} bytes)\n`);
  } else {
    writeFileSync(artifact, binary);
    process.stdout.write(`${artifact}: ${binary.length} bytes\n`);
  }
}
