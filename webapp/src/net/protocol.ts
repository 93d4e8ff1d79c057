// Frames and REST shapes of docs/protocol.md (version 1), typed. Only what this client reads or writes is
// described; unknown fields and frame types are ignored (protocol section 12).

export const PROTOCOL_VERSION = 1;

export type Content = { type: string; [key: string]: unknown } | string;

/** The message envelope (section 5.1). `(conversation_id, seq)` is its identity. */
export interface Envelope {
  conversation_id: string;
  seq: number;
  id: string;
  sender: { user_id: string; device_id: string };
  ts: number;
  content: Content;
  system?: true;
  forward_count?: number;
  stranger?: true;
}

export interface Watermark {
  user_id: string;
  delivered_seq: number;
  read_seq: number | null;
}

export interface Member {
  user_id: string;
  phone: string | null;
  display_name: string;
  picture?: string | null; // media id of the profile picture (3.13)
}

/** One entry of GET /v1/conversations (section 3.13). */
export interface ConversationInfo {
  conversation_id: string;
  kind: "direct" | "group" | "inbox";
  subject: string | null;
  last_seq: number;
  members: Member[];
  last_message: Envelope | null;
  receipts: Watermark[];
  // My own chat state (section 3.13a); absent from servers before it.
  pinned?: boolean;
  pinned_at?: number | null;
  archived?: boolean;
  muted_until?: number | "always" | null;
}

/** Section 3.13a: the fields of `PATCH /v1/conversations/{id}/state`, all optional. */
export interface ChatStatePatch {
  pinned?: boolean;
  archived?: boolean;
  muted_until?: number | "always" | null;
}

export interface Contact {
  phone: string;
  name: string;
  user_id: string | null;
  display_name: string | null;
}

// -- client frames (section 4.5) -------------------------------------------------------------------------------

export type ClientFrame =
  | { type: "hello"; v: number; token: string; ref?: string }
  | { type: "send"; id: string; conversation_id?: string; to?: string; content: Content; media?: string[]; ref?: string }
  | {
      type: "forward";
      id: string;
      source: { conversation_id: string; seq: number };
      targets: ({ conversation_id: string } | { to: string })[];
      ref?: string;
    }
  | { type: "ack"; conversation_id: string; seq: number }
  | { type: "read"; conversation_id: string; seq: number }
  | { type: "typing"; conversation_id: string; state: "composing" | "paused" }
  | { type: "presence_subscribe"; user_ids: string[] }
  | { type: "ping"; ref?: string | number };

// -- server frames (section 4.6) -------------------------------------------------------------------------------

export interface WelcomeFrame {
  type: "welcome";
  v: number;
  user_id: string;
  device_id: string;
  server_time: number;
}
export type DeliverFrame = Envelope & { type: "deliver" };
export interface SentFrame {
  type: "sent";
  ref: string | number | null;
  id: string;
  conversation_id: string;
  seq: number;
  ts: number;
  duplicate: boolean;
}
export type ReceiptFrame = Watermark & { type: "receipt"; conversation_id: string };
export interface SyncedFrame {
  type: "synced";
}
export interface TypingFrame {
  type: "typing";
  conversation_id: string;
  user_id: string;
  state: "composing" | "paused";
}
export interface PresenceFrame {
  type: "presence";
  user_id: string;
  status: "online" | "offline" | "hidden";
  last_seen: number | null;
}
export interface ChatStateFrame {
  type: "chat_state";
  conversation_id: string;
  pinned: boolean;
  pinned_at: number | null;
  archived: boolean;
  muted_until: number | "always" | null;
}
export interface ErrorFrame {
  type: "error";
  code: string;
  message: string;
  ref: string | number | null;
  retry_after?: number;
}

export type ServerFrame =
  | WelcomeFrame
  | DeliverFrame
  | SentFrame
  | ReceiptFrame
  | SyncedFrame
  | TypingFrame
  | PresenceFrame
  | ChatStateFrame
  | ErrorFrame
  | { type: "pong"; ref: string | number | null };

const KNOWN = new Set(["welcome", "deliver", "sent", "receipt", "synced", "typing", "presence", "chat_state", "error", "pong"]);

/** Parse one WebSocket text message; null for anything that is not a frame this client knows. */
export function parseFrame(data: unknown): ServerFrame | null {
  if (typeof data !== "string") return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const type = (value as { type?: unknown }).type;
  return typeof type === "string" && KNOWN.has(type) ? (value as ServerFrame) : null;
}

/** Close codes after which reconnecting with the same token is pointless (section 4.4). */
export function isFinalClose(code: number, reason: string): "version" | "logged_out" | "suspended" | null {
  if (code === 4400) return "version";
  if (code === 4401) {
    if (reason === "account_suspended") return "suspended";
    if (reason === "unauthorized" || reason === "device_revoked") return "logged_out";
  }
  return null;
}
