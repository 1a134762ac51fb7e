// Attention heads of a UNet from its level widths, for single files (which do not record them).

/** Heads of a fixed width (SD 2.x and SDXL: 64 channels each), or undefined when a width does not divide. */
export function headsOfWidth(headWidth: number): (widths: number[]) => number[] | undefined {
  return (widths) => (widths.every((w) => w % headWidth === 0) ? widths.map((w) => w / headWidth) : undefined);
}
