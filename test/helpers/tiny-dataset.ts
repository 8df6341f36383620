// A small labelled folder for end-to-end runs: two fixture classes, a dozen images each.

import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempFolder } from './images.ts';

export const fixtureFolder = join(import.meta.dirname, '..', '..', 'fixtures', 'generated', 'shapes');

export function tinyDataset(perClass = 12, classes = ['horizontal', 'vertical']): string {
  const root = tempFolder('streamfit-data-');
  for (const name of classes) {
    mkdirSync(join(root, name));
    for (let i = 0; i < perClass; i++)
      copyFileSync(join(fixtureFolder, name, `${name}-${String(i).padStart(3, '0')}.jpg`), join(root, name, `${i}.jpg`));
  }
  return root;
}
