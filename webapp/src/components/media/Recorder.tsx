import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../../i18n";
import { formatDuration } from "./format";

/** What MediaRecorder can make that the server's voice kind accepts (protocol 16.4), best first. */
const TYPES = ["audio/ogg;codecs=opus", "audio/webm;codecs=opus", "audio/webm", "audio/mp4"];

const HOLD_MS = 500; // pressed longer than this: "hold to record", sent on release

/** Click the microphone to record, then send or cancel; or hold it and let go to send. Gives the recording
 * and its length in seconds. Enter/Space on the focused button is a click. */
export function Recorder({ onDone }: { onDone: (blob: Blob, seconds: number) => void }) {
  const [rec, setRec] = useState<MediaRecorder | null>(null);
  const [started, setStarted] = useState(0);
  const [now, setNow] = useState(0);
  const [error, setError] = useState(false);
  const keep = useRef(false);
  const recRef = useRef<MediaRecorder | null>(null);
  useEffect(() => {
    if (!rec) return;
    const id = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(id);
  }, [rec]);
  useEffect(() => () => rec?.stream.getTracks().forEach((tr) => tr.stop()), [rec]);
  if (typeof MediaRecorder === "undefined" || !navigator.mediaDevices) return null;

  const start = async () => {
    setError(false);
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const mimeType = TYPES.find((x) => MediaRecorder.isTypeSupported(x));
      const r = new MediaRecorder(stream, mimeType ? { mimeType } : {});
      const parts: Blob[] = [];
      const t0 = Date.now();
      r.ondataavailable = (e) => e.data.size && parts.push(e.data);
      r.onstop = () => {
        stream.getTracks().forEach((tr) => tr.stop());
        setRec(null);
        if (keep.current && parts.length) onDone(new Blob(parts, { type: (r.mimeType || "audio/webm").split(";")[0] }), (Date.now() - t0) / 1000);
      };
      keep.current = false;
      r.start(250);
      recRef.current = r;
      setStarted(t0);
      setNow(t0);
      setRec(r);
    } catch {
      setError(true);
    }
  };
  const stop = (send: boolean) => {
    keep.current = send;
    const r = recRef.current;
    recRef.current = null;
    if (r && r.state !== "inactive") r.stop();
  };
  if (rec) {
    return (
      <div class="recorder" role="group" aria-label={t("media.recording", { time: formatDuration((now - started) / 1000) })}>
        <button type="button" class="icon" onClick={() => stop(false)} aria-label={t("media.cancelRecording")}>
          ✕
        </button>
        <span class="rec-dot" aria-hidden="true" />
        <span class="rec-time" aria-live="off">
          {formatDuration((now - started) / 1000)}
        </span>
        <button type="button" class="icon primary" onClick={() => stop(true)} aria-label={t("media.stopSend")} data-testid="voice-send">
          ➤
        </button>
      </div>
    );
  }
  return (
    <>
      <button
        type="button"
        class="icon mic"
        aria-label={t("media.record")}
        data-testid="record"
        onPointerDown={(e) => {
          if (e.button !== 0) return;
          const at = Date.now();
          // The button is replaced by the recorder at once, so the release is caught on the document.
          document.addEventListener("pointerup", () => Date.now() - at > HOLD_MS && stop(true), { once: true });
          void start();
        }}
        onClick={(e) => {
          if (e.detail === 0) void start(); // keyboard
        }}
      >
        <svg viewBox="0 0 24 24" aria-hidden="true">
          <path fill="currentColor" d="M12 15a3 3 0 0 0 3-3V6a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-2.1a7 7 0 0 0 6-6.9z" />
        </svg>
      </button>
      {error && (
        <span role="alert" class="visually-hidden">
          {t("media.micDenied")}
        </span>
      )}
    </>
  );
}
