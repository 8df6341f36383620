// The random-resized-crop box (Inception / torchvision recipe) as a pure function of a random source.

export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Picks a box covering `scale` of the area with aspect ratio in `ratio` (log-uniform); falls back to the largest centred box. */
export function randomResizedCropBox(
  width: number,
  height: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  random: () => number,
): CropBox {
  const area = width * height;
  const [logLow, logHigh] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + random() * (scale[1] - scale[0]));
    const aspect = Math.exp(logLow + random() * (logHigh - logLow));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return { left: Math.floor(random() * (width - w + 1)), top: Math.floor(random() * (height - h + 1)), width: w, height: h };
    }
  }
  const aspect = width / height;
  let w = width;
  let h = height;
  if (aspect < ratio[0]) h = Math.round(w / ratio[0]);
  else if (aspect > ratio[1]) w = Math.round(h * ratio[1]);
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}
