// Media messages as the views need them (docs/protocol.md 16.6 and 5.3): queue a file with the message that
// describes it, upload it (resumable, with progress), then hand the finished message to the session. The outbox
// entry keeps the file (IndexedDB stores Blobs) and, once the server made it, the media id, so after a reload or a
// reconnect the upload continues from the server's offset and the message goes out once its media is finished.
// Signed URLs are cached per media id until shortly before they expire.
import { signal } from "@preact/signals";
import { ApiError } from "../net/api";
import type { LocalStore, OutboxEntry } from "../net/db";
import { FATAL_UPLOAD_ERRORS, type MediaClient, type MediaInfo, type MediaKind, type Progress, type UploadJob } from "../net/media";
import type { Content } from "../net/protocol";
import { t } from "../i18n";

export const MEDIA_TYPES = new Set(["image", "video", "voice", "audio", "document"]);
export const CARD_TYPES = new Set(["location", "contact"]);

export interface MediaContent {
  type: MediaKind;
  media_id?: string;
  content_type?: string;
  size?: number;
  sha256?: string;
  width?: number;
  height?: number;
  preview?: string | null;
  thumbnail?: boolean;
  caption?: string;
  file_name?: string;
  duration?: number;
  waveform?: number[];
}

export function asMedia(c: Content): MediaContent | null {
  return typeof c === "object" && c !== null && MEDIA_TYPES.has(c.type) ? (c as unknown as MediaContent) : null;
}

/** The kind an uploaded file is sent as, from its type (16.4). */
export function kindOf(type: string): MediaKind {
  if (/^image\/(jpeg|png|gif|webp)$/.test(type)) return "image";
  if (/^video\/(mp4|quicktime|webm|3gpp)$/.test(type)) return "video";
  return "document";
}

/** The message content once the upload is finished: what finalize answered about the stored bytes (16.1). */
export function finishedContent(c: Content, info: MediaInfo): Content {
  const base = typeof c === "object" ? c : { type: info.kind };
  const out: Record<string, unknown> = { ...base, media_id: info.media_id, size: info.size, sha256: info.sha256 };
  if (info.content_type) out.content_type = info.content_type;
  if (info.width !== null) out.width = info.width;
  if (info.height !== null) out.height = info.height;
  if (info.preview) out.preview = info.preview;
  if (info.kind === "image") out.thumbnail = info.thumbnail;
  return out as Content;
}

export interface MediaDeps {
  client: MediaClient;
  store: LocalStore;
  /** The session: takes the finished entry (and writes it over the stored one, without its file). */
  send(entry: OutboxEntry): Promise<void>;
  failed(entry: OutboxEntry, code: string): void;
  sleep?: (ms: number) => Promise<void>;
}

const RETRY_MS = [1000, 2000, 4000, 8000, 15000];

export class MediaModel {
  /** Upload progress per outbox entry id, 0..1. */
  readonly progress = signal<Record<string, number>>({});
  /** Object URLs of files still on this device (my own unsent pictures, voice notes), per outbox entry id. */
  private readonly local = new Map<string, string>();
  private readonly running = new Set<string>();
  private readonly urls = new Map<string, { url: string; until: number }>();
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: MediaDeps) {
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get client(): MediaClient {
    return this.deps.client;
  }

  /** An object URL for the file of an unsent entry (blob: is allowed by the CSP for img and media). */
  localUrl(entry: OutboxEntry): string | null {
    if (!entry.upload) return null;
    let url = this.local.get(entry.id);
    if (!url && typeof URL.createObjectURL === "function") {
      url = URL.createObjectURL(entry.upload.blob);
      this.local.set(entry.id, url);
    }
    return url ?? null;
  }

  /** Continue every unfinished upload of the outbox (after a reload). */
  resume(entries: Iterable<OutboxEntry>): void {
    for (const e of entries) if (e.upload) void this.run(e);
  }

  /** Upload the entry's file, then send it; the caller has put it in the outbox (memory and IndexedDB). */
  run(entry: OutboxEntry): Promise<void> {
    if (this.running.has(entry.id) || !entry.upload) return Promise.resolve();
    this.running.add(entry.id);
    return this.loop(entry).finally(() => this.running.delete(entry.id));
  }

  private setProgress(id: string, value: number | null): void {
    const next = { ...this.progress.peek() };
    if (value === null) delete next[id];
    else next[id] = value;
    this.progress.value = next;
  }

  private async loop(start: OutboxEntry): Promise<void> {
    let entry = start;
    let restarted = false;
    this.setProgress(entry.id, 0);
    for (let attempt = 0; ; attempt++) {
      const job = entry.upload!;
      try {
        const info = await this.deps.client.upload(
          job,
          (done, total) => this.setProgress(entry.id, total ? done / total : 1),
          async (mediaId) => {
            entry = { ...entry, upload: { ...job, media_id: mediaId } };
            await this.deps.store.addOutbox(entry);
          },
        );
        const { upload: _file, ...rest } = entry;
        const done: OutboxEntry = { ...rest, content: finishedContent(entry.content, info), media: [info.media_id] };
        this.setProgress(entry.id, null);
        await this.deps.send(done);
        return;
      } catch (exc) {
        const code = exc instanceof ApiError ? exc.code : null;
        if (code === "media_not_found" && !restarted) {
          // The upload is gone (retention of idle uploads, or a failed finalize): start it again once.
          restarted = true;
          const { media_id: _gone, ...fresh } = job;
          entry = { ...entry, upload: fresh };
          await this.deps.store.addOutbox(entry);
          continue;
        }
        if (code !== null && (FATAL_UPLOAD_ERRORS.has(code) || code === "media_not_found")) {
          this.setProgress(entry.id, null);
          await this.deps.store.dropOutbox(entry.id);
          this.deps.failed(entry, code);
          return;
        }
        // The network, or the server is away (5xx, 409 after a cut): try again, from the server's offset.
        await this.sleep(RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]!);
      }
    }
  }

  /** A signed URL for an `<img>`, `<video>`, `<audio>` or a download link; cached until 5 minutes before expiry. */
  async url(mediaId: string, thumbnail = false): Promise<string> {
    const key = `${mediaId}${thumbnail ? "/t" : ""}`;
    const hit = this.urls.get(key);
    if (hit && hit.until > Date.now()) return hit.url;
    const url = await this.deps.client.signedUrl(mediaId, thumbnail, 3600);
    this.urls.set(key, { url, until: Date.now() + 55 * 60 * 1000 });
    return url;
  }

  /** Download by a signed URL (16.2), with progress as the body streams in. */
  async download(mediaId: string, onProgress?: Progress): Promise<Blob> {
    return this.deps.client.fetchUrl(await this.url(mediaId), onProgress);
  }
}

/** A job for a file the user picked, dropped, pasted or recorded. */
export function jobFor(blob: Blob, kind: MediaKind, fileName: string): UploadJob {
  return { kind, blob, content_type: blob.type.split(";")[0] || "application/octet-stream", file_name: fileName };
}

/** One line for the chat list (and notifications) for a media message or a card. */
export function summaryOf(c: Content): string {
  if (typeof c !== "object" || c === null) return "";
  const caption = typeof c.caption === "string" && c.caption ? ` ${c.caption}` : "";
  switch (c.type) {
    case "image":
      return `📷 ${t("media.photo")}${caption}`;
    case "video":
      return `🎥 ${t("media.video")}${caption}`;
    case "voice":
      return `🎤 ${t("media.voice")}`;
    case "audio":
    case "document":
      return `📄 ${typeof c.file_name === "string" && c.file_name ? c.file_name : t("media.document")}`;
    case "location":
      return `📍 ${t("media.location")}`;
    case "contact":
      return `👤 ${typeof c.name === "string" ? c.name : t("media.contact")}`;
    default:
      return "";
  }
}
