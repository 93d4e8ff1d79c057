// What this device keeps (docs/subsystems/web.md, "Persistence"): the token, conversations, messages and the
// outbox, in IndexedDB, so a reload shows everything at once and an unsent message survives it. IndexedDB is
// per origin, so no other site can read the token. A message is acked only after its transaction completed.
import type { UploadJob } from "./media";
import type { Contact, Content, ConversationInfo, Envelope } from "./protocol";

export interface Auth {
  token: string;
  user_id: string;
  device_id: string;
}

/** A message written on this device and not yet answered with `sent` (protocol 6.4). */
export interface OutboxEntry {
  id: string; // the client message id, kept for every resend
  conversation_id: string | null;
  to: string | null; // a new direct chat: the other user's id
  content: Content;
  created_at: number; // local clock, ms: for display and order only
  /** The media ids for the `send` frame's `media` (protocol 4.5). */
  media?: string[];
  /** A file still to upload (net/media.ts); the session holds the entry back until it is gone. */
  upload?: UploadJob;
}

export interface Snapshot {
  auth: Auth | null;
  conversations: ConversationInfo[];
  messages: Envelope[];
  outbox: OutboxEntry[];
  contacts: Contact[];
}

/** The persistence seam: IndexedDB in the browser, the same class over fake-indexeddb in unit tests. */
export interface LocalStore {
  load(): Promise<Snapshot>;
  setAuth(auth: Auth): Promise<void>;
  putMessages(messages: Envelope[]): Promise<void>;
  putConversations(conversations: ConversationInfo[]): Promise<void>;
  putContacts(contacts: Contact[]): Promise<void>;
  addOutbox(entry: OutboxEntry): Promise<void>;
  /** The `sent` for an outbox entry: drop it and keep the message, in one transaction. */
  settleOutbox(id: string, message: Envelope): Promise<void>;
  dropOutbox(id: string): Promise<void>;
  wipe(): Promise<void>;
}

const DB_VERSION = 1;
const STORES = ["meta", "conversations", "messages", "outbox"] as const;
type StoreName = (typeof STORES)[number];

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
  });
}

export class IdbStore implements LocalStore {
  private dbp: Promise<IDBDatabase> | null = null;

  constructor(
    private readonly name = "hudhud",
    private readonly idb: IDBFactory = indexedDB,
  ) {}

  private db(): Promise<IDBDatabase> {
    if (!this.dbp) {
      this.dbp = new Promise((resolve, reject) => {
        const open = this.idb.open(this.name, DB_VERSION);
        open.onupgradeneeded = () => {
          const db = open.result;
          db.createObjectStore("meta");
          db.createObjectStore("conversations", { keyPath: "conversation_id" });
          db.createObjectStore("messages", { keyPath: ["conversation_id", "seq"] });
          db.createObjectStore("outbox", { keyPath: "id" });
        };
        open.onsuccess = () => {
          open.result.onversionchange = () => open.result.close();
          resolve(open.result);
        };
        open.onerror = () => reject(open.error);
      });
    }
    return this.dbp;
  }

  private async write(stores: StoreName[], fn: (tx: IDBTransaction) => void): Promise<void> {
    const tx = (await this.db()).transaction(stores, "readwrite", { durability: "strict" });
    fn(tx);
    await done(tx);
  }

  async load(): Promise<Snapshot> {
    const tx = (await this.db()).transaction([...STORES], "readonly");
    const [auth, contacts, conversations, messages, outbox] = await Promise.all([
      req(tx.objectStore("meta").get("auth")),
      req(tx.objectStore("meta").get("contacts")),
      req(tx.objectStore("conversations").getAll()),
      req(tx.objectStore("messages").getAll()),
      req(tx.objectStore("outbox").getAll()),
    ]);
    return {
      auth: (auth as Auth | undefined) ?? null,
      contacts: (contacts as Contact[] | undefined) ?? [],
      conversations: conversations as ConversationInfo[],
      messages: messages as Envelope[],
      outbox: (outbox as OutboxEntry[]).sort((a, b) => a.created_at - b.created_at),
    };
  }

  setAuth(auth: Auth): Promise<void> {
    return this.write(["meta"], (tx) => tx.objectStore("meta").put(auth, "auth"));
  }
  putContacts(contacts: Contact[]): Promise<void> {
    return this.write(["meta"], (tx) => tx.objectStore("meta").put(contacts, "contacts"));
  }
  putMessages(messages: Envelope[]): Promise<void> {
    return this.write(["messages"], (tx) => {
      const s = tx.objectStore("messages");
      for (const m of messages) s.put(m);
    });
  }
  putConversations(conversations: ConversationInfo[]): Promise<void> {
    return this.write(["conversations"], (tx) => {
      const s = tx.objectStore("conversations");
      for (const c of conversations) s.put(c);
    });
  }
  addOutbox(entry: OutboxEntry): Promise<void> {
    return this.write(["outbox"], (tx) => tx.objectStore("outbox").put(entry));
  }
  settleOutbox(id: string, message: Envelope): Promise<void> {
    return this.write(["outbox", "messages"], (tx) => {
      tx.objectStore("outbox").delete(id);
      tx.objectStore("messages").put(message);
    });
  }
  dropOutbox(id: string): Promise<void> {
    return this.write(["outbox"], (tx) => tx.objectStore("outbox").delete(id));
  }
  async wipe(): Promise<void> {
    await this.write([...STORES], (tx) => {
      for (const s of STORES) tx.objectStore(s).clear();
    });
    const db = await this.db();
    db.close();
    this.dbp = null;
    await new Promise<void>((resolve) => {
      const r = this.idb.deleteDatabase(this.name);
      r.onsuccess = r.onerror = r.onblocked = () => resolve();
    });
  }
}
