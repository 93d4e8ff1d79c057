// Voice-note levels for the player, computed in the browser (Web Audio decode → peaks), carried in the message
// content (protocol 16.6: 64 levels from 0 to 100) so that the receiver draws them before downloading anything.

/** `count` levels 0–100 from PCM samples: the peak of each slice, scaled to the loudest. */
export function peaks(samples: Float32Array, count = 64): number[] {
  const out: number[] = [];
  const step = Math.max(1, Math.floor(samples.length / count));
  for (let i = 0; i < count; i++) {
    let m = 0;
    const end = Math.min(samples.length, (i + 1) * step);
    for (let j = i * step; j < end; j++) {
      const v = Math.abs(samples[j]!);
      if (v > m) m = v;
    }
    out.push(m);
  }
  const top = Math.max(...out, 1e-6);
  return out.map((v) => Math.round((v / top) * 100));
}

/** Duration and waveform of a recording; zeros if the browser cannot decode it. */
export async function analyse(blob: Blob, fallbackSeconds: number): Promise<{ duration: number; waveform: number[] }> {
  try {
    const Ctx = window.AudioContext ?? (window as unknown as { webkitAudioContext: typeof AudioContext }).webkitAudioContext;
    const ctx = new Ctx();
    const buf = await ctx.decodeAudioData(await blob.arrayBuffer());
    void ctx.close();
    return { duration: Math.round(buf.duration * 10) / 10, waveform: peaks(buf.getChannelData(0)) };
  } catch {
    return { duration: fallbackSeconds, waveform: new Array(64).fill(0) };
  }
}
