// Reads a JPEG's size, component count and EXIF orientation from its first bytes, without a decoder.

export interface JpegHeader {
  width: number;
  height: number;
  components: number;
  orientation: number;
}

const startOfFrame = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** The header, or undefined when the frame header is not within `bytes` (then ask a decoder). */
export function readJpegHeader(bytes: Uint8Array): JpegHeader | undefined {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let orientation = 1;
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return undefined;
    const marker = bytes[offset + 1];
    if (marker === 0xff) {
      offset++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2; // markers without a length
      continue;
    }
    const length = view.getUint16(offset + 2);
    const body = offset + 4;
    if (marker === 0xda || marker === 0xd9) return undefined; // scan data before any frame header
    if (marker === 0xe1) orientation = exifOrientation(bytes, body, length - 2) ?? orientation;
    if (startOfFrame.has(marker)) {
      if (body + 6 > bytes.length) return undefined;
      return { height: view.getUint16(body + 1), width: view.getUint16(body + 3), components: bytes[body + 5], orientation };
    }
    offset = body + length - 2;
  }
  return undefined;
}

/** Tag 0x0112 of IFD0 in an APP1 'Exif' segment. */
function exifOrientation(bytes: Uint8Array, start: number, length: number): number | undefined {
  const end = Math.min(bytes.length, start + length);
  if (end - start < 14 || String.fromCharCode(...bytes.subarray(start, start + 4)) !== 'Exif') return undefined;
  const tiff = start + 6;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = bytes[tiff] === 0x49;
  const ifd = tiff + view.getUint32(tiff + 4, little);
  if (ifd + 2 > end) return undefined;
  const entries = view.getUint16(ifd, little);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > end) return undefined;
    if (view.getUint16(entry, little) === 0x0112) {
      const value = view.getUint16(entry + 8, little);
      return value >= 1 && value <= 8 ? value : undefined;
    }
  }
  return undefined;
}
