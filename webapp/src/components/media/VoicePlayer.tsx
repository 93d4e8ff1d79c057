import { useEffect, useRef, useState } from "preact/hooks";
import { formatNumber, t } from "../../i18n";
import { formatDuration } from "./format";

const SPEEDS = [1, 1.5, 2];

/** A voice note: play/pause, the waveform (filled as it plays; click to seek), the time, and 1×/1.5×/2×. */
export function VoicePlayer({ src, duration, waveform }: { src: string | null; duration: number; waveform: number[] }) {
  const audio = useRef<HTMLAudioElement>(null);
  const [playing, setPlaying] = useState(false);
  const [at, setAt] = useState(0);
  const [speed, setSpeed] = useState(0);
  const [length, setLength] = useState(duration);
  useEffect(() => {
    const a = audio.current;
    if (!a) return;
    // Both: loading the source resets playbackRate to defaultPlaybackRate.
    a.defaultPlaybackRate = a.playbackRate = SPEEDS[speed]!;
  }, [speed, src]);
  const bars = waveform.length ? waveform : new Array(32).fill(20);
  const frac = length > 0 ? at / length : 0;
  const toggle = () => {
    const a = audio.current;
    if (!a) return;
    if (a.paused) void a.play();
    else a.pause();
  };
  const seek = (e: MouseEvent) => {
    const a = audio.current;
    const el = e.currentTarget as HTMLElement;
    if (!a || !length) return;
    const r = el.getBoundingClientRect();
    const x = document.documentElement.dir === "rtl" ? r.right - e.clientX : e.clientX - r.left;
    a.currentTime = Math.max(0, Math.min(length, (x / r.width) * length));
  };
  return (
    <div class="voice-player" data-testid="voice-player">
      {src && (
        <audio
          ref={audio}
          src={src}
          preload="metadata"
          onPlay={() => setPlaying(true)}
          onPause={() => setPlaying(false)}
          onEnded={() => {
            setPlaying(false);
            setAt(0);
          }}
          onTimeUpdate={(e) => setAt(e.currentTarget.currentTime)}
          onLoadedMetadata={(e) => {
            const d = e.currentTarget.duration;
            if (Number.isFinite(d) && d > 0) setLength(d);
          }}
        />
      )}
      <button type="button" class="voice-play" disabled={!src} onClick={toggle} aria-label={playing ? t("media.pause") : t("media.play")}>
        <span aria-hidden="true">{playing ? "❚❚" : "▶"}</span>
      </button>
      <div class="waveform" aria-hidden="true" onClick={seek}>
        {bars.map((v, i) => (
          <span
            key={i}
            class={i / bars.length < frac ? "bar played" : "bar"}
            ref={(el) => {
              if (el) el.style.blockSize = `${Math.max(8, Math.min(100, v))}%`;
            }}
          />
        ))}
      </div>
      <span class="voice-time" aria-label={t("media.voiceOf", { time: formatDuration(length) })}>
        {formatDuration(playing || at ? at : length)}
      </span>
      <button type="button" class="voice-speed" onClick={() => setSpeed((speed + 1) % SPEEDS.length)} aria-label={t("media.speed", { speed: `${formatNumber(SPEEDS[speed]!)}×` })}>
        {formatNumber(SPEEDS[speed]!)}×
      </button>
    </div>
  );
}
