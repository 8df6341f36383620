#!/usr/bin/env -S node --initial-old-space-size=64
// Runs the TypeScript CLI through tsx's loader, so `npx streamfit` works right after `npm ci`.
// The V8 flag: V8 counts sharp's ~1 MB pixel buffers against the old generation's limit, which for a heap this small
// leaves about 16 MB of room, so without a 64 MB floor it marks the whole heap every ~15 images (≈0.7 ms an image).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
