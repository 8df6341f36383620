// Writes the awkward images the decode tests need: orientations, colour spaces, bit depths, broken files.

import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import tar from 'tar-stream';
import { drawFixture } from '../../scripts/make-fixtures.ts';

/** Every folder tempFolder made in this test process, removed when the process exits (whatever the test did with it). */
const temporaryFolders: string[] = [];
process.on('exit', () => {
  for (const folder of temporaryFolders) rmSync(folder, { recursive: true, force: true });
});

/** A new folder under the temporary directory, removed when the test process exits. */
export function tempFolder(prefix = 'streamfit-test-'): string {
  const folder = mkdtempSync(join(tmpdir(), prefix));
  temporaryFolders.push(folder);
  return folder;
}

export function rgb(width: number, height: number, index = 0): Sharp {
  return sharp(drawFixture('disc', index, width, height), { raw: { width, height, channels: 3 } });
}

export async function jpegBytes(width = 40, height = 30, index = 0): Promise<Buffer> {
  return rgb(width, height, index).jpeg().toBuffer();
}

/** Every kind of image a real folder holds, keyed by file name. */
export async function awkwardImages(folder: string): Promise<Record<string, string>> {
  const files: Record<string, Buffer> = {
    'rotated.jpg': await rgb(40, 20).withMetadata({ orientation: 6 }).jpeg().toBuffer(),
    'grey.jpg': await sharp(Buffer.alloc(30 * 20, 128), { raw: { width: 30, height: 20, channels: 1 } })
      .jpeg()
      .toBuffer(),
    'cmyk.jpg': await rgb(30, 20).toColourspace('cmyk').jpeg().toBuffer(),
    'palette.png': await rgb(30, 20).png({ palette: true }).toBuffer(),
    'deep.png': await rgb(30, 20).toColourspace('rgb16').png().toBuffer(),
    'alpha.png': await sharp(Buffer.alloc(30 * 20 * 4, 200), { raw: { width: 30, height: 20, channels: 4 } })
      .png()
      .toBuffer(),
    'animated.gif': await sharp([await rgb(30, 20, 1).png().toBuffer(), await rgb(30, 20, 2).png().toBuffer()], {
      join: { animated: true },
    })
      .gif()
      .toBuffer(),
    'UPPER.JPEG': await jpegBytes(30, 20),
  };
  const paths: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(files)) {
    paths[name] = join(folder, name);
    writeFileSync(paths[name], bytes);
  }
  return paths;
}

/** Files that must be quarantined, with the words their reason must contain. */
export async function brokenImages(folder: string): Promise<Record<string, { path: string; reason: RegExp }>> {
  const whole = await jpegBytes(200, 150);
  const entries: Record<string, [Buffer | string, RegExp]> = {
    'truncated.jpg': [whole.subarray(0, Math.floor(whole.length / 2)), /cannot decode/],
    'text.jpg': ['this is not an image', /not a recognised image format/],
    'empty.png': [Buffer.alloc(0), /not a recognised image format/],
    'vector.svg': [
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="file:///etc/passwd"/></svg>',
      /format 'svg' is refused/,
    ],
  };
  const result: Record<string, { path: string; reason: RegExp }> = {};
  for (const [name, [bytes, reason]] of Object.entries(entries)) {
    const path = join(folder, name);
    writeFileSync(path, bytes);
    result[name] = { path, reason };
  }
  return result;
}

export interface TarMember {
  name: string;
  body: Buffer | string;
}

/** Writes a tar (gzipped when the name ends in .gz) holding the members in order. */
export async function writeTar(path: string, members: TarMember[]): Promise<void> {
  const pack = tar.pack();
  for (const member of members) pack.entry({ name: member.name }, member.body);
  pack.finalize();
  if (path.endsWith('.gz')) await pipeline(pack, createGzip(), createWriteStream(path));
  else await pipeline(pack, createWriteStream(path));
}

export function readBytes(path: string): Buffer {
  return readFileSync(path);
}
