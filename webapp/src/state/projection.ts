// Pure functions from stored messages to what the views show: modifiers applied (edit, delete, reaction:
// protocol 5.3, with its authorship rule), ticks (7.2), unread counts (3.13), date separators. No signals here,
// so these are tested directly.
import type { OutboxEntry } from "../net/db";
import type { Content, Envelope, Watermark } from "../net/protocol";

export type Tick = "queued" | "sent" | "delivered" | "read" | "failed";

export interface Bubble {
  key: string;
  seq: number | null;
  mine: boolean;
  senderId: string;
  ts: number; // seconds
  text: string | null; // null: not a text message (unsupported, or deleted)
  deleted: boolean;
  edited: boolean;
  unsupported: boolean;
  forwarded: boolean;
  forwardCount: number; // protocol 10.4: 5 or more is "forwarded many times"
  system: boolean;
  /** For a system message (protocol 9.4): its event, actor and the users it is about. */
  event?: { name: string; actor: string; users: string[]; subject: string | null; extra?: Record<string, unknown> };
  reactions: { emoji: string; count: number }[];
  /** The message this one answers (content.reply_to), as it reads now. */
  replyTo: { seq: number; senderId: string; text: string | null } | null;
  /** My own reaction, if any. */
  myReaction: string | null;
  tick: Tick | null; // only for my messages
  failedCode?: string;
  /** The payload, for kinds drawn by components/media (pictures, voice notes, cards …). */
  content?: Content;
  /** The outbox entry of an unsent message (its file, while it uploads). */
  entry?: OutboxEntry;
}

export type Row = { kind: "day"; key: string; ts: number } | { kind: "bubble"; key: string; bubble: Bubble };

const MODIFIERS = new Set(["edit", "delete", "reaction"]);
/** Kinds drawn by components/media (protocol 16.6). */
const RICH = new Set(["image", "video", "voice", "audio", "document", "location", "contact"]);

export function isRichContent(c: Content): boolean {
  return typeof c === "object" && c !== null && RICH.has(c.type);
}

function contentType(c: Content): string | null {
  return typeof c === "object" && c !== null && typeof c.type === "string" ? c.type : null;
}

export function isModifierContent(c: Content): boolean {
  const type = contentType(c);
  return type !== null && MODIFIERS.has(type);
}

export function isModifier(m: Envelope): boolean {
  return isModifierContent(m.content) && !m.system;
}

/** The text a message shows in a bubble or a preview; null when it has none this client can show. */
export function textOf(c: Content): string | null {
  if (typeof c === "object" && c !== null && c.type === "text" && typeof c.text === "string") return c.text;
  return null;
}

/** Ticks for my message `seq` from the other members' watermarks (7.2). `null` read_seq means unknown. */
export function tickFor(seq: number, me: string, receipts: Record<string, Watermark>): Tick {
  let tick: Tick = "sent";
  for (const w of Object.values(receipts)) {
    if (w.user_id === me) continue;
    if (w.read_seq !== null && w.read_seq >= seq) return "read";
    if (w.delivered_seq >= seq) tick = "delivered";
  }
  return tick;
}

/** Messages after my read_seq that I can see, minus my own and the modifiers (3.13). */
export function unreadCount(messages: Envelope[], me: string, myReadSeq: number): number {
  let n = 0;
  for (const m of messages) {
    if (m.seq > myReadSeq && m.sender.user_id !== me && !isModifier(m)) n++;
  }
  return n;
}

/** The bubbles of a conversation, oldest first: stored messages by seq, then the outbox in the order written. */
export function bubbles(
  messages: Envelope[],
  outbox: OutboxEntry[],
  me: string,
  receipts: Record<string, Watermark>,
  failed: Record<string, string> = {},
): Bubble[] {
  const out: Bubble[] = [];
  const bySeq = new Map<number, Bubble>();
  const edits = new Map<number, { seq: number; text: string }>();
  const deletes = new Set<number>();
  const reactions = new Map<number, Map<string, { seq: number; emoji: string }>>();
  const senderOf = new Map<number, string>();
  for (const m of messages) senderOf.set(m.seq, m.sender.user_id);

  for (const m of messages) {
    const c = m.content;
    if (isModifier(m) && typeof c === "object") {
      const target = typeof c.target === "number" ? c.target : null;
      if (target === null) continue;
      if (c.type === "reaction" && typeof c.emoji === "string") {
        const per = reactions.get(target) ?? new Map<string, { seq: number; emoji: string }>();
        const prev = per.get(m.sender.user_id);
        if (!prev || prev.seq < m.seq) per.set(m.sender.user_id, { seq: m.seq, emoji: c.emoji });
        reactions.set(target, per);
        continue;
      }
      if (senderOf.get(target) !== m.sender.user_id) continue; // the authorship rule (5.3)
      if (c.type === "delete") deletes.add(target);
      else if (c.type === "edit" && typeof c.text === "string") {
        const prev = edits.get(target);
        if (!prev || prev.seq < m.seq) edits.set(target, { seq: m.seq, text: c.text });
      }
      continue;
    }
    const text = textOf(c);
    const mine = m.sender.user_id === me;
    const b: Bubble = {
      key: `s${m.seq}`,
      seq: m.seq,
      mine,
      senderId: m.sender.user_id,
      ts: m.ts,
      text,
      deleted: false,
      edited: false,
      unsupported: text === null && !m.system,
      forwarded: (m.forward_count ?? 0) > 0,
      forwardCount: m.forward_count ?? 0,
      system: m.system === true,
      reactions: [],
      replyTo: null,
      myReaction: null,
      tick: mine && !m.system ? tickFor(m.seq, me, receipts) : null,
      content: c,
    };
    if (text === null && isRichContent(c)) b.unsupported = false;
    if (typeof c === "object" && typeof c.reply_to === "number") {
      b.replyTo = { seq: c.reply_to, senderId: "", text: null };
    }
    if (m.system && typeof c === "object") {
      b.event = {
        name: typeof c.event === "string" ? c.event : "",
        actor: typeof c.actor === "string" ? c.actor : m.sender.user_id,
        users: Array.isArray(c.users) ? c.users.filter((u): u is string => typeof u === "string") : [],
        subject: typeof c.subject === "string" ? c.subject : null,
        extra: c, // the other fields of the event (settings, via, new_owner …), read by components/group/events.ts
      };
    }
    bySeq.set(m.seq, b);
    out.push(b);
  }
  for (const [seq, edit] of edits) {
    const b = bySeq.get(seq);
    if (b && !deletes.has(seq)) {
      b.text = edit.text;
      b.edited = true;
    }
  }
  for (const seq of deletes) {
    const b = bySeq.get(seq);
    if (b) {
      b.deleted = true;
      b.text = null;
      b.unsupported = false;
    }
  }
  for (const b of out) {
    if (!b.replyTo) continue;
    const quoted = bySeq.get(b.replyTo.seq);
    if (quoted) b.replyTo = { seq: quoted.seq!, senderId: quoted.senderId, text: quoted.deleted ? null : quoted.text };
  }
  for (const [seq, per] of reactions) {
    const b = bySeq.get(seq);
    if (!b) continue;
    b.myReaction = per.get(me)?.emoji || null;
    const counts = new Map<string, number>();
    for (const { emoji } of per.values()) if (emoji) counts.set(emoji, (counts.get(emoji) ?? 0) + 1);
    b.reactions = [...counts].map(([emoji, count]) => ({ emoji, count }));
  }
  for (const e of outbox) {
    if (isModifierContent(e.content)) continue; // applied once stored, like everyone else's
    const text = textOf(e.content);
    out.push({
      key: `o${e.id}`,
      seq: null,
      mine: true,
      senderId: me,
      ts: e.created_at / 1000,
      text,
      deleted: false,
      edited: false,
      unsupported: text === null,
      forwarded: false,
      forwardCount: 0,
      system: false,
      reactions: [],
      replyTo: null,
      myReaction: null,
      tick: failed[e.id] ? "failed" : "queued",
      ...(failed[e.id] ? { failedCode: failed[e.id] } : {}),
      content: e.content,
      entry: e,
    });
    if (text === null && isRichContent(e.content)) out[out.length - 1]!.unsupported = false;
  }
  return out;
}

/** Local calendar day of a time, as a comparable number. */
function dayKey(tsSeconds: number): number {
  const d = new Date(tsSeconds * 1000);
  return d.getFullYear() * 10000 + d.getMonth() * 100 + d.getDate();
}

/** Bubbles with a date separator before the first message of each day. */
export function withDays(list: Bubble[]): Row[] {
  const rows: Row[] = [];
  let last = -1;
  for (const b of list) {
    const day = dayKey(b.ts);
    if (day !== last) {
      rows.push({ kind: "day", key: `d${day}`, ts: b.ts });
      last = day;
    }
    rows.push({ kind: "bubble", key: b.key, bubble: b });
  }
  return rows;
}

export function sameDay(a: number, b: number): boolean {
  return dayKey(a) === dayKey(b);
}
