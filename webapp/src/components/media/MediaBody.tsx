import { useEffect, useState } from "preact/hooks";
import { t } from "../../i18n";
import type { OutboxEntry } from "../../net/db";
import type { Content } from "../../net/protocol";
import { asMedia, type MediaContent } from "../../state/media";
import { useMediaEnv } from "./context";
import { formatBytes, formatDuration, formatPercent } from "./format";
import { Lightbox } from "./Lightbox";
import { VoicePlayer } from "./VoicePlayer";
import "./media.css";

/** A signed URL for the media (or the local file while mine uploads); null until known. */
export function useMediaUrl(c: MediaContent, entry: OutboxEntry | undefined, thumbnail = false): string | null {
  const env = useMediaEnv();
  const local = entry ? env?.media.localUrl(entry) ?? null : null;
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (local || !env || !c.media_id) return;
    let live = true;
    env.media.url(c.media_id, thumbnail).then((u) => live && setUrl(u), () => undefined);
    return () => {
      live = false;
    };
  }, [c.media_id, local, thumbnail]);
  return local ?? url;
}

function UploadProgress({ entry }: { entry: OutboxEntry | undefined }) {
  const env = useMediaEnv();
  const p = entry?.upload && env ? env.media.progress.value[entry.id] : undefined;
  if (p === undefined) return null; // not uploading (sent, or given up: the bubble says "not sent")
  return (
    <div class="media-progress" data-testid="upload-progress">
      <progress max={1} value={p} aria-label={t("media.uploading", { percent: formatPercent(p) })} />
      <span>{formatPercent(p)}</span>
    </div>
  );
}

function Picture({ c, entry }: { c: MediaContent; entry: OutboxEntry | undefined }) {
  const thumb = useMediaUrl(c, entry, c.thumbnail !== false);
  const full = useMediaUrl(c, entry, false);
  const [loaded, setLoaded] = useState(false);
  const [open, setOpen] = useState(false);
  const ratio = c.width && c.height ? `${c.width} / ${c.height}` : undefined;
  const alt = c.caption || c.file_name || t("media.photo");
  return (
    <div class="media-picture">
      <button type="button" class="picture-button" aria-label={t("media.open")} onClick={() => full && setOpen(true)} ref={(el) => {
        if (el && ratio) el.style.aspectRatio = ratio;
      }}>
        {c.preview && !loaded && <img class="blur" src={`data:image/jpeg;base64,${c.preview}`} alt="" aria-hidden="true" />}
        {thumb && <img class={loaded ? "real" : "real loading"} src={thumb} alt={alt} onLoad={() => setLoaded(true)} data-testid="picture" />}
      </button>
      <UploadProgress entry={entry} />
      {open && full && <Lightbox src={full} alt={alt} onClose={() => setOpen(false)} />}
    </div>
  );
}

function Video({ c, entry }: { c: MediaContent; entry: OutboxEntry | undefined }) {
  const url = useMediaUrl(c, entry);
  return (
    <div class="media-video">
      {url ? <video controls preload="metadata" src={url} aria-label={c.caption || c.file_name || t("media.video")} /> : <div class="video-wait" />}
      <UploadProgress entry={entry} />
    </div>
  );
}

function Document({ c, entry }: { c: MediaContent; entry: OutboxEntry | undefined }) {
  const env = useMediaEnv();
  const url = useMediaUrl(c, entry);
  const [progress, setProgress] = useState<number | null>(null);
  const name = c.file_name || t("media.document");
  const save = async (e: Event) => {
    if (!env || !c.media_id || entry) return; // my local file: the plain link opens it
    e.preventDefault();
    setProgress(0);
    try {
      const blob = await env.media.download(c.media_id, (done, total) => setProgress(total ? done / total : 0));
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } finally {
      setProgress(null);
    }
  };
  return (
    <div class="media-document">
      <span class="doc-icon" aria-hidden="true">📄</span>
      <div class="doc-info">
        <span class="doc-name" dir="auto">{name}</span>
        <span class="doc-meta">
          {c.size !== undefined ? formatBytes(c.size) : ""}
          {c.content_type ? ` · ${c.content_type}` : ""}
        </span>
        {progress !== null && <progress max={1} value={progress} aria-label={t("media.downloading", { percent: formatPercent(progress) })} />}
      </div>
      {url && (
        <a class="doc-download" href={url} download={name} onClick={save} aria-label={t("media.downloadName", { name })} data-testid="download">
          {t("media.download")}
        </a>
      )}
      <UploadProgress entry={entry} />
    </div>
  );
}

function Voice({ c, entry }: { c: MediaContent; entry: OutboxEntry | undefined }) {
  const url = useMediaUrl(c, entry);
  return (
    <div class="media-voice">
      <VoicePlayer src={url} duration={c.duration ?? 0} waveform={c.waveform ?? []} />
      <UploadProgress entry={entry} />
    </div>
  );
}

function Location({ c }: { c: Record<string, unknown> }) {
  const lat = Number(c.latitude);
  const lon = Number(c.longitude);
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return <em>{t("conv.unsupported")}</em>;
  const href = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
  return (
    <div class="card location-card" data-testid="location-card">
      <span class="card-icon" aria-hidden="true">📍</span>
      <div>
        {typeof c.name === "string" && c.name && <div class="card-title" dir="auto">{c.name}</div>}
        <div class="coords" dir="ltr">
          {lat.toFixed(5)}, {lon.toFixed(5)}
        </div>
        <a href={href} target="_blank" rel="noopener noreferrer">
          {t("media.openMap")}
        </a>
      </div>
    </div>
  );
}

function ContactCard({ c, mine }: { c: Record<string, unknown>; mine: boolean }) {
  const env = useMediaEnv();
  const name = typeof c.name === "string" ? c.name : "";
  const phones = Array.isArray(c.phones) ? c.phones.filter((p): p is string => typeof p === "string") : [];
  const [state, setState] = useState<"idle" | "busy" | "added">("idle");
  const phone = phones[0];
  const run = async (open: boolean) => {
    if (!env || !phone) return;
    setState("busy");
    const r = await env.chats.startChat(phone, name).catch(() => null);
    setState(r?.ok ? "added" : "idle");
    if (r?.ok && open) env.chats.open(r.id);
  };
  return (
    <div class="card contact-card" data-testid="contact-card">
      <span class="card-icon" aria-hidden="true">👤</span>
      <div>
        <div class="card-title" dir="auto">{name}</div>
        {phones.map((p) => (
          <div key={p} class="coords" dir="ltr">
            {p}
          </div>
        ))}
        {!mine && phone && (
          <div class="row">
            <button type="button" disabled={state === "busy"} onClick={() => void run(true)}>
              {t("media.message")}
            </button>
            <button type="button" disabled={state !== "idle"} onClick={() => void run(false)}>
              {state === "added" ? t("media.added") : t("media.addContact")}
            </button>
          </div>
        )}
      </div>
    </div>
  );
}

/** The body of a bubble whose content is a media kind or a card (protocol 16.6); null for any other kind. */
export function MediaBody({ content, entry, mine }: { content: Content | undefined; entry?: OutboxEntry; mine: boolean }) {
  if (!content || typeof content !== "object") return null;
  if (content.type === "location") return <Location c={content} />;
  if (content.type === "contact") return <ContactCard c={content} mine={mine} />;
  const c = asMedia(content);
  if (!c) return null;
  const body =
    c.type === "image" ? (
      <Picture c={c} entry={entry} />
    ) : c.type === "video" ? (
      <Video c={c} entry={entry} />
    ) : c.type === "voice" ? (
      <Voice c={c} entry={entry} />
    ) : (
      <Document c={c} entry={entry} />
    );
  return (
    <div class={`media media-${c.type}-wrap`} data-kind={c.type}>
      {body}
      {c.caption && (
        <div class="text caption" dir="auto">
          {c.caption}
        </div>
      )}
    </div>
  );
}

