import { describe, expect, it } from "vitest";
import { ApiError, NetworkError } from "../src/net/api";
import type { OutboxEntry } from "../src/net/db";
import { MediaClient, sha256Hex } from "../src/net/media";
import { finishedContent, MediaModel, summaryOf } from "../src/state/media";
import { peaks } from "../src/components/media/waveform";

/** A tiny media server in memory, speaking protocol 16.1, that can cut a chunk short or fail once. */
class FakeServer {
  uploads = new Map<string, { size: number; sha256: string; bytes: Uint8Array; done: number; ready: boolean }>();
  calls: string[] = [];
  cutNextChunkAt: number | null = null; // keep only this many bytes of the next chunk, then fail the request
  downNext = 0; // requests that fail with a network error
  finalizeError: string | null = null;
  next = 1;

  fetch = async (url: string, init?: RequestInit): Promise<Response> => {
    const method = init?.method ?? "GET";
    this.calls.push(`${method} ${url.replace(/m\d+/, "M")}`);
    if (this.downNext > 0) {
      this.downNext--;
      throw new TypeError("Failed to fetch");
    }
    const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    if (method === "POST" && url === "/v1/media") {
      const b = JSON.parse(String(init!.body)) as { size: number; sha256: string };
      const id = `m${this.next++}`;
      this.uploads.set(id, { size: b.size, sha256: b.sha256, bytes: new Uint8Array(b.size), done: 0, ready: false });
      return json(201, { media_id: id, status: "uploading", offset: 0 });
    }
    const m = /^\/v1\/media\/(m\d+)(\/upload|\/finalize|\/url)?(\?sig=1)?$/.exec(url);
    const up = m ? this.uploads.get(m[1]!) : undefined;
    if (!m || !up) return json(404, { error: { code: "media_not_found", message: "no" } });
    if (m[2] === "/upload" && method === "GET") return json(200, { offset: up.done, status: "uploading" });
    if (m[2] === "/upload" && method === "PATCH") {
      const at = Number((init!.headers as Record<string, string>)["Upload-Offset"]);
      if (at !== up.done) return json(409, { error: { code: "upload_offset_mismatch", message: "x", offset: up.done } });
      const chunk = new Uint8Array(await (init!.body as Blob).arrayBuffer());
      const keep = this.cutNextChunkAt ?? chunk.length;
      up.bytes.set(chunk.subarray(0, keep), at);
      up.done += keep;
      if (this.cutNextChunkAt !== null) {
        this.cutNextChunkAt = null;
        throw new TypeError("connection reset");
      }
      return json(200, { offset: up.done });
    }
    if (m[2] === "/finalize") {
      if (this.finalizeError) return json(400, { error: { code: this.finalizeError, message: "bad" } });
      if (up.done !== up.size) return json(409, { error: { code: "upload_incomplete", message: "x" } });
      up.ready = true;
      return json(200, { media_id: m[1], kind: "image", status: "ready", size: up.size, sha256: up.sha256, content_type: "image/png", file_name: "a.png", width: 2, height: 1, thumbnail: true, preview: "AAAA" });
    }
    if (m[2] === "/url") return json(200, { url: `/v1/media/${m[1]}?sig=1`, expires_at: 0 });
    return new Response(new Blob([up.bytes.slice()]), { status: 200, headers: { "Content-Length": String(up.size), "Content-Type": "image/png" } });
  };
}

const bytes = (n: number) => new Blob([Uint8Array.from({ length: n }, (_, i) => i % 251)], { type: "image/png" });
const job = (blob: Blob) => ({ kind: "image" as const, blob, content_type: "image/png", file_name: "a.png" });

describe("MediaClient", () => {
  it("uploads in chunks with progress, and finalizes", async () => {
    const s = new FakeServer();
    const c = new MediaClient(() => "tok", "", s.fetch, 100);
    const seen: number[] = [];
    const info = await c.upload(job(bytes(250)), (d) => seen.push(d));
    expect(info.status).toBe("ready");
    expect(seen).toEqual([0, 100, 200, 250]);
    expect(s.calls).toEqual(["POST /v1/media", "PATCH /v1/media/M/upload", "PATCH /v1/media/M/upload", "PATCH /v1/media/M/upload", "POST /v1/media/M/finalize"]);
    const up = s.uploads.get(info.media_id)!;
    expect(up.sha256).toBe(await sha256Hex(bytes(250)));
    expect([...up.bytes]).toEqual([...new Uint8Array(await bytes(250).arrayBuffer())]);
  });

  it("resumes from the server's offset after a cut connection", async () => {
    const s = new FakeServer();
    const c = new MediaClient(() => "tok", "", s.fetch, 100);
    let id = "";
    s.cutNextChunkAt = null;
    const first = c.upload(job(bytes(250)), undefined, (m) => {
      id = m;
      s.cutNextChunkAt = 37; // the first chunk arrives only in part
    });
    await expect(first).rejects.toBeInstanceOf(NetworkError);
    expect(s.uploads.get(id)!.done).toBe(37);
    s.calls = [];
    const seen: number[] = [];
    const info = await c.upload({ ...job(bytes(250)), media_id: id }, (d) => seen.push(d));
    expect(info.media_id).toBe(id);
    expect(seen[0]).toBe(37);
    expect(s.calls[0]).toBe("GET /v1/media/M/upload");
    expect([...s.uploads.get(id)!.bytes]).toEqual([...new Uint8Array(await bytes(250).arrayBuffer())]);
  });

  it("reports server errors with their code", async () => {
    const s = new FakeServer();
    s.finalizeError = "checksum_mismatch";
    const c = new MediaClient(() => "tok", "", s.fetch, 100);
    await expect(c.upload(job(bytes(10)))).rejects.toMatchObject({ code: "checksum_mismatch" });
    await expect(c.offset("m99")).rejects.toBeInstanceOf(ApiError);
  });

  it("downloads with progress", async () => {
    const s = new FakeServer();
    const c = new MediaClient(() => "tok", "", s.fetch, 100);
    const info = await c.upload(job(bytes(300)));
    const seen: number[] = [];
    const blob = await c.download(info.media_id, (d, total) => seen.push(d / total));
    expect(blob.size).toBe(300);
    expect(seen[seen.length - 1]).toBe(1);
  });
});

class Store {
  rows = new Map<string, OutboxEntry>();
  dropped: string[] = [];
  async addOutbox(e: OutboxEntry) {
    this.rows.set(e.id, e);
  }
  async dropOutbox(id: string) {
    this.dropped.push(id);
    this.rows.delete(id);
  }
}

describe("MediaModel", () => {
  const entry = (blob: Blob): OutboxEntry => ({ id: "e1", conversation_id: "c1", to: null, content: { type: "image", caption: "hi" }, created_at: 0, upload: job(blob) });

  it("keeps the media id in the outbox, retries through outages and sends once finished", async () => {
    const s = new FakeServer();
    const store = new Store();
    const sent: OutboxEntry[] = [];
    const m = new MediaModel({
      client: new MediaClient(() => "t", "", s.fetch, 100),
      store: store as never,
      send: async (e) => void sent.push(e),
      failed: () => undefined,
      sleep: async () => undefined,
    });
    s.downNext = 0;
    const e = entry(bytes(250));
    let cut = true;
    const orig = s.fetch;
    s.fetch = async (url, init) => {
      if (cut && init?.method === "PATCH") {
        cut = false;
        s.cutNextChunkAt = 50;
      }
      return orig(url, init);
    };
    await m.run(e);
    expect(store.rows.get("e1")!.upload!.media_id).toMatch(/^m\d+$/); // kept before the first byte went out
    expect(sent).toHaveLength(1);
    const done = sent[0]!;
    expect(done.upload).toBeUndefined();
    expect(done.media).toEqual([store.rows.get("e1")!.upload!.media_id]);
    expect(done.content).toMatchObject({ type: "image", caption: "hi", width: 2, height: 1, preview: "AAAA", size: 250 });
    expect(m.progress.value).toEqual({});
    expect(s.uploads.size).toBe(1); // resumed, not started again
  });

  it("downloads by a signed URL, which it asks for once", async () => {
    const s = new FakeServer();
    const client = new MediaClient(() => "t", "", s.fetch, 100);
    const info = await client.upload(job(bytes(120)));
    const m = new MediaModel({ client, store: new Store() as never, send: async () => undefined, failed: () => undefined });
    s.calls = [];
    const seen: number[] = [];
    expect((await m.download(info.media_id, (d) => seen.push(d))).size).toBe(120);
    expect((await m.download(info.media_id)).size).toBe(120);
    expect(s.calls).toEqual(["POST /v1/media/M/url", "GET /v1/media/M?sig=1", "GET /v1/media/M?sig=1"]);
    expect(seen[seen.length - 1]).toBe(120);
  });

  it("gives up on errors that cannot be fixed by resuming", async () => {
    const s = new FakeServer();
    s.finalizeError = "media_type_mismatch";
    const store = new Store();
    const failed: string[] = [];
    const m = new MediaModel({
      client: new MediaClient(() => "t", "", s.fetch, 100),
      store: store as never,
      send: async () => undefined,
      failed: (_e, code) => void failed.push(code),
      sleep: async () => undefined,
    });
    await m.run(entry(bytes(10)));
    expect(failed).toEqual(["media_type_mismatch"]);
    expect(store.dropped).toEqual(["e1"]);
  });

  it("starts again once when the server forgot the upload", async () => {
    const s = new FakeServer();
    const store = new Store();
    const sent: OutboxEntry[] = [];
    const m = new MediaModel({ client: new MediaClient(() => "t", "", s.fetch, 100), store: store as never, send: async (e) => void sent.push(e), failed: () => undefined, sleep: async () => undefined });
    const e = entry(bytes(10));
    await m.run({ ...e, upload: { ...e.upload!, media_id: "m77" } });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.media![0]).not.toBe("m77");
  });
});

describe("content", () => {
  it("copies what finalize said about the stored bytes", () => {
    const c = finishedContent({ type: "image", caption: "x", size: 1 }, { media_id: "m1", kind: "image", status: "ready", size: 9, sha256: "ab", content_type: "image/jpeg", file_name: "", width: 3, height: 4, thumbnail: true, preview: null });
    expect(c).toEqual({ type: "image", caption: "x", size: 9, sha256: "ab", media_id: "m1", content_type: "image/jpeg", width: 3, height: 4, thumbnail: true });
  });
  it("summarises media for the chat list", () => {
    expect(summaryOf({ type: "document", file_name: "r.pdf" })).toContain("r.pdf");
    expect(summaryOf({ type: "text", text: "x" })).toBe("");
  });
  it("computes waveform peaks scaled to 100", () => {
    const p = peaks(Float32Array.from([0, 0.5, 0, 0.25, 0, 0.1, 0, 0]), 4);
    expect(p).toEqual([100, 50, 20, 0]);
  });
});

describe("Session and media entries", () => {
  it("holds an entry back while its file uploads, then sends it once with its media ids", async () => {
    const { Session } = await import("../src/net/session");
    const { Backoff } = await import("../src/net/backoff");
    const { FakeSocket, ManualTimers, MemoryStore } = await import("./fakes");
    const sockets: InstanceType<typeof FakeSocket>[] = [];
    const store = new MemoryStore();
    const uploading: OutboxEntry = { id: "v1", conversation_id: "c1", to: null, content: { type: "voice" }, created_at: 1, upload: job(bytes(5)) };
    const listener = { status() {}, welcome() {}, messages() {}, sent() {}, sendFailed() {}, receipt() {}, typing() {}, presence() {}, synced() {}, loggedOut() {} };
    const session = new Session({
      url: "ws://t", token: "hh", store, listener, timers: new ManualTimers(), backoff: new Backoff(), outbox: [uploading],
      socketFactory: (url) => {
        const s = new FakeSocket(url);
        sockets.push(s);
        return s;
      },
    });
    session.start();
    sockets[0]!.open();
    sockets[0]!.frame({ type: "welcome", v: 1, user_id: "u", device_id: "d", server_time: 1 });
    expect(sockets[0]!.sent.filter((f) => f.type === "send")).toEqual([]);
    const { upload: _f, ...rest } = uploading;
    await session.send({ ...rest, content: { type: "voice", media_id: "m1" }, media: ["m1"] });
    const sends = sockets[0]!.sent.filter((f) => f.type === "send");
    expect(sends).toEqual([{ type: "send", id: "v1", conversation_id: "c1", content: { type: "voice", media_id: "m1" }, media: ["m1"], ref: "s:v1" }]);
    expect(store.outbox.get("v1")!.upload).toBeUndefined(); // the stored entry no longer carries the file
  });
});
