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

/** Messages after my read_seq that I can see, minus my own and the modifiers (3.13). `messages` is in seq order
 * (as the store keeps it), so this walks back from the newest and stops at the read watermark: the cost is the
 * number of unread messages, not the length of the chat. */
export function unreadCount(messages: Envelope[], me: string, myReadSeq: number): number {
  let n = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.seq <= myReadSeq) break;
    if (m.sender.user_id !== me && !isModifier(m)) n++;
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
  return [...storedBubbles(messages, me, receipts).list, ...outboxBubbles(outbox, me, failed)];
}

/** The bubble of one stored message that is not a modifier, before any modifier is applied. */
function bubbleOf(m: Envelope, me: string, receipts: Record<string, Watermark>): Bubble {
  const c = m.content;
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
  return b;
}

function quote(b: Bubble, bySeq: Map<number, Bubble>): void {
  if (!b.replyTo) return;
  const quoted = bySeq.get(b.replyTo.seq);
  if (quoted) b.replyTo = { seq: quoted.seq!, senderId: quoted.senderId, text: quoted.deleted ? null : quoted.text };
}

interface Stored {
  list: Bubble[];
  bySeq: Map<number, Bubble>;
}

/** The bubbles of the stored messages, every modifier applied. */
function storedBubbles(messages: Envelope[], me: string, receipts: Record<string, Watermark>): Stored {
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
    const b = bubbleOf(m, me, receipts);
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
  for (const b of out) quote(b, bySeq);
  for (const [seq, per] of reactions) {
    const b = bySeq.get(seq);
    if (!b) continue;
    b.myReaction = per.get(me)?.emoji || null;
    const counts = new Map<string, number>();
    for (const { emoji } of per.values()) if (emoji) counts.set(emoji, (counts.get(emoji) ?? 0) + 1);
    b.reactions = [...counts].map(([emoji, count]) => ({ emoji, count }));
  }
  return { list: out, bySeq };
}

/** The bubbles of the outbox, in the order written: modifiers are applied once stored, like everyone else's. */
function outboxBubbles(outbox: OutboxEntry[], me: string, failed: Record<string, string>): Bubble[] {
  const out: Bubble[] = [];
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
  pushWithDays(rows, list, -1);
  return rows;
}

/** Append `list` to `rows` with day separators, `last` being the day of the row before; returns the last day. */
function pushWithDays(rows: Row[], list: Bubble[], last: number): number {
  for (const b of list) {
    const day = dayKey(b.ts);
    if (day !== last) {
      rows.push({ kind: "day", key: `d${day}`, ts: b.ts });
      last = day;
    }
    rows.push({ kind: "bubble", key: b.key, bubble: b });
  }
  return last;
}

/** What of the watermarks the bubbles depend on: the other members' (ticks, 7.2), not mine. */
function othersKey(receipts: Record<string, Watermark>, me: string): string {
  let k = "";
  for (const w of Object.values(receipts)) if (w.user_id !== me) k += `${w.user_id}:${w.delivered_seq}:${w.read_seq ?? ""};`;
  return k;
}

/**
 * The rows of one open conversation, `withDays(bubbles(...))`, without redoing a 10,000-message chat for each new
 * message. The stored part is kept between calls and extended when the messages are the previous ones plus newer
 * ones that modify nothing (a message arrives, mine is stored): nothing already there can change then. Anything
 * else (a modifier, older history paged in, another member's watermark moving the ticks) computes it all again.
 * The outbox part is small and always recomputed.
 */
export class ConversationRows {
  private messages: Envelope[] = [];
  private others = "";
  private bySeq = new Map<number, Bubble>();
  private stored: Row[] = [];
  private lastDay = -1;

  rows(
    messages: Envelope[],
    outbox: OutboxEntry[],
    me: string,
    receipts: Record<string, Watermark>,
    failed: Record<string, string> = {},
  ): Row[] {
    const others = othersKey(receipts, me);
    if (others !== this.others || !this.extends(messages)) {
      const all = storedBubbles(messages, me, receipts);
      this.bySeq = all.bySeq;
      this.stored = [];
      this.lastDay = pushWithDays(this.stored, all.list, -1);
    } else if (messages.length > this.messages.length) {
      const fresh: Bubble[] = [];
      for (let i = this.messages.length; i < messages.length; i++) {
        const b = bubbleOf(messages[i]!, me, receipts);
        quote(b, this.bySeq);
        this.bySeq.set(b.seq!, b);
        fresh.push(b);
      }
      this.lastDay = pushWithDays(this.stored, fresh, this.lastDay);
    }
    this.messages = messages;
    this.others = others;
    const rows = this.stored.slice();
    pushWithDays(rows, outboxBubbles(outbox, me, failed), this.lastDay);
    return rows;
  }

  /** `messages` is the previous list (same objects, same places) plus newer messages that are not modifiers. */
  private extends(messages: Envelope[]): boolean {
    const prev = this.messages;
    const n = prev.length;
    if (n === 0 || messages.length < n || messages[0] !== prev[0] || messages[n - 1] !== prev[n - 1]) return false;
    for (let i = n; i < messages.length; i++) {
      const m = messages[i]!;
      if (isModifier(m) || m.seq <= messages[i - 1]!.seq) return false;
    }
    return true;
  }
}

export function sameDay(a: number, b: number): boolean {
  return dayKey(a) === dayKey(b);
}
