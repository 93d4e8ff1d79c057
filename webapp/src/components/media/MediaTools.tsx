import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../../i18n";
import type { Chat, ChatStore } from "../../state/chats";
import { jobFor, kindOf } from "../../state/media";
import { analyse } from "./waveform";
import { formatBytes } from "./format";
import { Recorder } from "./Recorder";

type Panel = null | "menu" | "location" | "contact" | { files: File[] };

function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: preact.ComponentChildren }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    box.current?.querySelector<HTMLElement>("input, textarea, button")?.focus();
    const key = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    document.addEventListener("keydown", key);
    return () => {
      document.removeEventListener("keydown", key);
      before?.focus();
    };
  }, []);
  return (
    <div class="media-dialog" role="dialog" aria-modal="true" aria-label={title} ref={box}>
      <h3>{title}</h3>
      {children}
    </div>
  );
}

function FilePreview({ files, onSend, onClose }: { files: File[]; onSend: (caption: string) => void; onClose: () => void }) {
  const [caption, setCaption] = useState("");
  const [urls] = useState(() => files.map((f) => (f.type.startsWith("image/") ? URL.createObjectURL(f) : null)));
  useEffect(() => () => urls.forEach((u) => u && URL.revokeObjectURL(u)), []);
  return (
    <Dialog title={t("media.previewTitle", { name: files.map((f) => f.name).join(", ") })} onClose={onClose}>
      <ul class="file-previews">
        {files.map((f, i) => (
          <li key={i}>
            {urls[i] ? <img src={urls[i]!} alt={f.name} /> : <span class="doc-icon" aria-hidden="true">📄</span>}
            <span dir="auto">{f.name}</span> <span class="doc-meta">{formatBytes(f.size)}</span>
          </li>
        ))}
      </ul>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          onSend(caption);
        }}
      >
        <label>
          <span class="visually-hidden">{t("media.caption")}</span>
          <input dir="auto" placeholder={t("media.caption")} value={caption} onInput={(e) => setCaption(e.currentTarget.value)} data-testid="caption" />
        </label>
        <div class="row">
          <button type="button" onClick={onClose}>
            {t("media.cancel")}
          </button>
          <button type="submit" class="primary" data-testid="media-send">
            {t("media.send")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function LocationForm({ onSend, onClose }: { onSend: (lat: number, lon: number, name: string) => void; onClose: () => void }) {
  const [lat, setLat] = useState("");
  const [lon, setLon] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const here = () =>
    navigator.geolocation?.getCurrentPosition(
      (p) => onSend(p.coords.latitude, p.coords.longitude, ""),
      () => setError(t("media.locationFailed")),
      { timeout: 10000 },
    );
  return (
    <Dialog title={t("media.attachLocation")} onClose={onClose}>
      {"geolocation" in navigator && (
        <button type="button" onClick={here}>
          {t("media.locationHere")}
        </button>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const a = Number(lat.replace(",", "."));
          const o = Number(lon.replace(",", "."));
          if (!lat || !lon || !(Math.abs(a) <= 90) || !(Math.abs(o) <= 180)) return setError(t("media.locationInvalid"));
          onSend(a, o, name.trim());
        }}
      >
        <label>
          {t("media.latitude")}
          <input dir="ltr" inputMode="decimal" value={lat} onInput={(e) => setLat(e.currentTarget.value)} data-testid="lat" />
        </label>
        <label>
          {t("media.longitude")}
          <input dir="ltr" inputMode="decimal" value={lon} onInput={(e) => setLon(e.currentTarget.value)} data-testid="lon" />
        </label>
        <label>
          {t("media.locationName")}
          <input dir="auto" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        {error && <p role="alert">{error}</p>}
        <div class="row">
          <button type="button" onClick={onClose}>
            {t("media.cancel")}
          </button>
          <button type="submit" class="primary">
            {t("media.send")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function ContactPicker({ store, onSend, onClose }: { store: ChatStore; onSend: (name: string, phone: string) => void; onClose: () => void }) {
  const list = store.contacts.value;
  return (
    <Dialog title={t("media.pickContact")} onClose={onClose}>
      {list.length ? (
        <ul class="contact-pick">
          {list.map((c) => (
            <li key={c.phone}>
              <button type="button" onClick={() => onSend(c.name || c.display_name || c.phone, c.phone)}>
                <span dir="auto">{c.name || c.display_name || c.phone}</span> <span dir="ltr">{c.phone}</span>
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p>{t("media.noContacts")}</p>
      )}
      <button type="button" onClick={onClose}>
        {t("media.cancel")}
      </button>
    </Dialog>
  );
}

/** Duration and size of a video from the browser's own decoder (the server makes no posters or durations). */
function videoMeta(file: Blob): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    const v = document.createElement("video");
    const url = URL.createObjectURL(file);
    const done = (meta: Record<string, number>) => {
      URL.revokeObjectURL(url);
      resolve(meta);
    };
    const timer = setTimeout(() => done({}), 3000);
    v.preload = "metadata";
    v.onloadedmetadata = () => {
      clearTimeout(timer);
      const meta: Record<string, number> = {};
      if (Number.isFinite(v.duration)) meta.duration = Math.round(v.duration * 10) / 10;
      if (v.videoWidth) Object.assign(meta, { width: v.videoWidth, height: v.videoHeight });
      done(meta);
    };
    v.onerror = () => {
      clearTimeout(timer);
      done({});
    };
    v.src = url;
  });
}

/** vCard 3.0 for a contact card (protocol 16.6): name and one number. */
function vcard(name: string, phone: string): string {
  const esc = (s: string) => s.replace(/[\\,;]/g, (c) => `\\${c}`).replace(/\n/g, "\\n");
  return `BEGIN:VCARD\r\nVERSION:3.0\r\nFN:${esc(name)}\r\nTEL;TYPE=CELL:${phone}\r\nEND:VCARD\r\n`;
}

/** The attach menu (pictures, video, documents, location, contact), the voice recorder, and drop and paste. */
export function MediaTools({ store, chat }: { store: ChatStore; chat: Chat }) {
  const [panel, setPanel] = useState<Panel>(null);
  const [dragging, setDragging] = useState(false);
  const photos = useRef<HTMLInputElement>(null);
  const docs = useRef<HTMLInputElement>(null);
  const attach = useRef<HTMLButtonElement>(null);
  const docMode = useRef(false);

  const sendFiles = (files: File[], caption: string, asDocument = false) => {
    setPanel(null);
    void (async () => {
      for (const [i, f] of files.entries()) {
        const kind = asDocument ? "document" : kindOf(f.type);
        const content: Record<string, unknown> = { type: kind, file_name: f.name, content_type: f.type || "application/octet-stream", size: f.size };
        if (caption && i === 0) content.caption = caption;
        if (kind === "video") Object.assign(content, await videoMeta(f));
        await store.sendRich(chat.id, content as never, jobFor(f, kind, f.name));
      }
    })();
  };

  useEffect(() => {
    const root = document.querySelector<HTMLElement>(".conversation");
    if (!root) return;
    const over = (e: DragEvent) => {
      if (!e.dataTransfer?.types.includes("Files")) return;
      e.preventDefault();
      setDragging(true);
    };
    const leave = (e: DragEvent) => {
      if (e.target === root || !root.contains(e.relatedTarget as Node)) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      const files = [...(e.dataTransfer?.files ?? [])];
      setDragging(false);
      if (!files.length) return;
      e.preventDefault();
      docMode.current = false;
      setPanel({ files });
    };
    const paste = (e: ClipboardEvent) => {
      const files = [...(e.clipboardData?.files ?? [])];
      if (!files.length) return;
      e.preventDefault();
      docMode.current = false;
      setPanel({ files });
    };
    root.addEventListener("dragover", over);
    root.addEventListener("dragleave", leave);
    root.addEventListener("drop", drop);
    root.addEventListener("paste", paste);
    return () => {
      root.removeEventListener("dragover", over);
      root.removeEventListener("dragleave", leave);
      root.removeEventListener("drop", drop);
      root.removeEventListener("paste", paste);
    };
  }, [chat.id]);

  const close = () => setPanel(null);
  return (
    <div class="media-tools">
      <button
        type="button"
        class="icon attach"
        ref={attach}
        aria-label={t("media.attach")}
        aria-expanded={panel === "menu"}
        aria-haspopup="menu"
        onClick={() => setPanel(panel === "menu" ? null : "menu")}
        data-testid="attach"
      >
        <svg viewBox="0 0 24 24" aria-hidden="true">
          <path fill="currentColor" d="M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z" />
        </svg>
      </button>
      <Recorder
        onDone={(blob, seconds) => {
          void analyse(blob, seconds).then(({ duration, waveform }) => {
            const content = { type: "voice", content_type: blob.type, size: blob.size, duration, waveform };
            void store.sendRich(chat.id, content, jobFor(blob, "voice", `voice-${Date.now()}.${blob.type.includes("ogg") ? "ogg" : "webm"}`));
          });
        }}
      />
      <input ref={photos} type="file" accept="image/jpeg,image/png,image/gif,image/webp,video/mp4,video/webm,video/quicktime" multiple hidden data-testid="pick-photo"
        onChange={(e) => {
          const files = [...(e.currentTarget.files ?? [])];
          e.currentTarget.value = "";
          docMode.current = false;
          if (files.length) setPanel({ files });
        }}
      />
      <input ref={docs} type="file" multiple hidden data-testid="pick-document"
        onChange={(e) => {
          const files = [...(e.currentTarget.files ?? [])];
          e.currentTarget.value = "";
          docMode.current = true;
          if (files.length) setPanel({ files });
        }}
      />
      {panel === "menu" && (
        <div
          class="attach-menu"
          role="menu"
          onKeyDown={(e) => {
            if (e.key === "Escape") {
              setPanel(null);
              attach.current?.focus();
            }
          }}
        >
          <button type="button" role="menuitem" onClick={() => photos.current?.click()}>
            🖼️ {t("media.attachPhoto")}
          </button>
          <button type="button" role="menuitem" onClick={() => docs.current?.click()}>
            📄 {t("media.attachDocument")}
          </button>
          <button type="button" role="menuitem" onClick={() => setPanel("location")}>
            📍 {t("media.attachLocation")}
          </button>
          <button type="button" role="menuitem" onClick={() => setPanel("contact")}>
            👤 {t("media.attachContact")}
          </button>
        </div>
      )}
      {panel && typeof panel === "object" && (
        <FilePreview files={panel.files} onClose={close} onSend={(caption) => sendFiles(panel.files, caption, docMode.current)} />
      )}
      {panel === "location" && (
        <LocationForm
          onClose={close}
          onSend={(latitude, longitude, name) => {
            void store.sendRich(chat.id, { type: "location", latitude, longitude, ...(name ? { name } : {}) });
            close();
          }}
        />
      )}
      {panel === "contact" && (
        <ContactPicker
          store={store}
          onClose={close}
          onSend={(name, phone) => {
            void store.sendRich(chat.id, { type: "contact", name, phones: [phone], vcard: vcard(name, phone) });
            close();
          }}
        />
      )}
      {dragging && (
        <div class="drop-zone" aria-hidden="true">
          {t("media.dropHere")}
        </div>
      )}
    </div>
  );
}
