import { test } from 'node:test';
import { selectBackend } from '../src/backend/ladder.ts';
import { assertLeanEqualsAutodiff } from './helpers/lean-equals-autodiff.ts';

// The lean backward pass calls only tfjs' own kernels, so it runs on any backend: here webgpu (the software adapter of
// `make webgpu-sim`, or a GPU).
await selectBackend('webgpu');

test('on the webgpu backend, lean gradients equal tfjs autodiff: every ResNet/MobileNet layer kind, and B0 plain and recomputed', async () => {
  await assertLeanEqualsAutodiff();
});
