// Media over REST (docs/protocol.md section 16): resumable chunked uploads and downloads with progress. No UI.
//
//   upload:   POST /v1/media (once; the id is kept by the caller) → HEAD-like GET …/upload for the server's
//             offset → PATCH chunks from there → POST …/finalize. After a reload or a cut connection the same
//             call continues from the server's offset: the server's file is the truth about what arrived.
//   download: GET /v1/media/{id} with the bearer token, read as a stream so progress can be reported.
import { ApiError, type Fetch, NetworkError } from "./api";

export type MediaKind = "image" | "video" | "voice" | "audio" | "document";

/** The media object (16.3). */
export interface MediaInfo {
  media_id: string;
  kind: MediaKind;
  status: "uploading" | "storing" | "ready";
  size: number;
  sha256: string;
  content_type: string | null;
  file_name: string;
  width: number | null;
  height: number | null;
  thumbnail: boolean;
  preview: string | null;
}

/** What an upload needs to be started or continued; `media_id` is set once the server has made it. */
export interface UploadJob {
  kind: MediaKind;
  blob: Blob;
  content_type: string;
  file_name: string;
  sha256?: string;
  media_id?: string;
}

export type Progress = (done: number, total: number) => void;

/** Errors after which continuing the same upload can never succeed: start again or give up (16.1). */
export const FATAL_UPLOAD_ERRORS = new Set([
  "invalid_request",
  "media_too_large",
  "quota_exceeded",
  "checksum_mismatch",
  "media_type_mismatch",
  "media_corrupt",
]);

export const CHUNK_BYTES = 256 * 1024;

export async function sha256Hex(blob: Blob): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class MediaClient {
  constructor(
    private readonly token: () => string | null,
    private readonly base = "",
    private readonly fetchFn: Fetch = (input, init) => fetch(input, init),
    readonly chunkBytes = CHUNK_BYTES,
  ) {}

  private async request(method: string, path: string, body?: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
    const token = this.token();
    if (token) headers["Authorization"] = `Bearer ${token}`;
    try {
      return await this.fetchFn(this.base + path, { method, headers, body: body ?? null, credentials: "omit", cache: "no-store" });
    } catch (exc) {
      throw new NetworkError(String(exc));
    }
  }

  private async json<T>(resp: Response): Promise<T> {
    let data: unknown = null;
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
    if (!resp.ok) {
      const err = (data as { error?: { code?: string; message?: string; retry_after?: number } } | null)?.error;
      throw new ApiError(resp.status, err?.code ?? "http_" + resp.status, err?.message ?? resp.statusText, err?.retry_after ?? null);
    }
    return data as T;
  }

  /** Start an upload (POST /v1/media). */
  async create(job: UploadJob): Promise<MediaInfo> {
    const sha256 = job.sha256 ?? (await sha256Hex(job.blob));
    const body = { kind: job.kind, size: job.blob.size, sha256, content_type: job.content_type, file_name: job.file_name };
    const resp = await this.request("POST", "/v1/media", JSON.stringify(body), { "Content-Type": "application/json" });
    return this.json(resp);
  }

  /** How many bytes of the upload the server has (GET …/upload). */
  async offset(mediaId: string): Promise<{ offset: number; status: string }> {
    return this.json(await this.request("GET", `/v1/media/${encodeURIComponent(mediaId)}/upload`));
  }

  /**
   * Upload `job.blob`, continuing from the server's offset if `job.media_id` is set. `onCreated` is called with
   * the new media id before the first byte is sent, so the caller can keep it (IndexedDB) and resume after a
   * reload. Progress is reported per chunk (fetch cannot report the progress of one request body).
   */
  async upload(job: UploadJob, onProgress?: Progress, onCreated?: (mediaId: string) => void | Promise<void>, signal?: AbortSignal): Promise<MediaInfo> {
    let mediaId = job.media_id;
    const total = job.blob.size;
    let offset = 0;
    if (!mediaId) {
      mediaId = (await this.create(job)).media_id;
      await onCreated?.(mediaId);
    } else {
      const state = await this.offset(mediaId);
      offset = state.offset;
    }
    const path = `/v1/media/${encodeURIComponent(mediaId)}`;
    onProgress?.(offset, total);
    while (offset < total) {
      if (signal?.aborted) throw new NetworkError("aborted");
      const chunk = job.blob.slice(offset, Math.min(total, offset + this.chunkBytes));
      const resp = await this.request("PATCH", `${path}/upload`, chunk, {
        "Upload-Offset": String(offset),
        "Content-Type": "application/offset+octet-stream",
      });
      if (resp.status === 409) {
        // Someone else's idea of the offset (a resend after a cut connection): continue from the server's.
        const data = (await resp.json().catch(() => null)) as { error?: { offset?: number } } | null;
        const at = data?.error?.offset ?? Number(resp.headers.get("Upload-Offset"));
        if (!Number.isFinite(at) || at === offset) throw new ApiError(409, "upload_offset_mismatch", "offset mismatch");
        offset = at;
      } else {
        offset = (await this.json<{ offset: number }>(resp)).offset;
      }
      onProgress?.(offset, total);
    }
    return this.json(await this.request("POST", `${path}/finalize`));
  }

  /** A URL path that serves the media (or its thumbnail) without a token until it expires (16.2). */
  async signedUrl(mediaId: string, thumbnail = false, expiresIn = 3600): Promise<string> {
    const resp = await this.request("POST", `/v1/media/${encodeURIComponent(mediaId)}/url`, JSON.stringify({ thumbnail, expires_in: expiresIn }), {
      "Content-Type": "application/json",
    });
    return this.base + (await this.json<{ url: string }>(resp)).url;
  }

  /** The whole file from a URL (a signed one: no token is sent), with progress while it streams in. */
  async fetchUrl(url: string, onProgress?: Progress): Promise<Blob> {
    let resp: Response;
    try {
      resp = await this.fetchFn(url, { method: "GET", credentials: "omit" });
    } catch (exc) {
      throw new NetworkError(String(exc));
    }
    return this.read(resp, onProgress);
  }

  /** The whole file with the bearer token, with progress while it streams in. */
  async download(mediaId: string, onProgress?: Progress, thumbnail = false): Promise<Blob> {
    const resp = await this.request("GET", `/v1/media/${encodeURIComponent(mediaId)}${thumbnail ? "/thumbnail" : ""}`);
    return this.read(resp, onProgress);
  }

  private async read(resp: Response, onProgress?: Progress): Promise<Blob> {
    if (!resp.ok) await this.json(resp);
    const total = Number(resp.headers.get("Content-Length") ?? 0);
    const type = resp.headers.get("Content-Type") ?? "";
    if (!resp.body) return resp.blob();
    const reader = resp.body.getReader();
    const parts: BlobPart[] = [];
    let done = 0;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      parts.push(r.value);
      done += r.value.byteLength;
      onProgress?.(done, total || done);
    }
    return new Blob(parts, { type });
  }
}
