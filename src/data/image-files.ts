// Which file names are images, and the class list shared by every source.

import { extname } from 'node:path';

export const imageExtensions = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'tif', 'tiff', 'avif', 'heic', 'heif', 'svg'];

export function isImageName(name: string): boolean {
  return imageExtensions.includes(extname(name).slice(1).toLowerCase());
}

/** Sorted class names and a lookup by name. */
export class ClassList {
  readonly names: readonly string[];
  private readonly index: Map<string, number>;

  constructor(names: Iterable<string>) {
    const unique = [...new Set(names)];
    // Integer labels (WebDataset .cls files) sort as numbers, so '10' comes after '9'.
    const numeric = unique.length > 0 && unique.every((name) => /^\d+$/.test(name));
    this.names = numeric ? unique.sort((a, b) => Number(a) - Number(b)) : unique.sort();
    this.index = new Map(this.names.map((name, i) => [name, i]));
  }

  indexOf(name: string): number | undefined {
    return this.index.get(name);
  }
}
