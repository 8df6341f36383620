// Recognises raster formats by their magic bytes, so nothing else (SVG, PDF, scripts) reaches a decoder unless allowed.

import { open } from 'node:fs/promises';

export const defaultFormats = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'] as const;

/** The format named by the first bytes, or undefined for anything not a known raster format. */
export function sniffFormat(head: Uint8Array): string | undefined {
  const starts = (...bytes: number[]) => bytes.every((byte, i) => head[i] === byte);
  const ascii = (offset: number, text: string) => [...text].every((char, i) => head[offset + i] === char.charCodeAt(0));
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg';
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'png';
  if (ascii(0, 'GIF8')) return 'gif';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  if (ascii(4, 'ftyp')) return 'heif'; // AVIF and HEIC share the ISO-BMFF container
  const text = Buffer.from(head).toString('latin1').trimStart().toLowerCase();
  if (text.startsWith('<?xml') || text.startsWith('<svg') || text.includes('<svg')) return 'svg';
  return undefined;
}

export async function readHead(input: string | Buffer, length = 512): Promise<Uint8Array> {
  if (typeof input !== 'string') return input.subarray(0, length);
  const handle = await open(input, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
