// The message list's virtualizer as a hook (the arithmetic is in virtual.ts): measured row heights, two spacers,
// the scroll position anchored to the row at the top of the viewport, and "stick to the bottom" while the user
// is at the newest message. The list element must render, in order: a spacer of `range.before` px, the rows
// `keys.slice(range.start, range.end)` each with `data-key`, and a spacer of `range.after` px.
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { type Anchor, anchorOf, Heights, offsetsOf, type Range, rangeOf, scrollFor } from "./virtual";

const NEAR_TOP = 800; // px: closer than this to the first row asks for older history
const AT_BOTTOM = 40; // px: this close to the end counts as "at the newest message"

export interface VirtualList<E extends HTMLElement> {
  ref: { current: E | null };
  range: Range;
  onScroll: () => void;
  /** Bring the row with this key to the middle of the viewport (it need not be rendered yet). */
  reveal(key: string): void;
  /** Follow the newest message again (after sending). */
  toBottom(): void;
}

/** `movable`: rows whose key can move to another place in the list (a day label, when older messages of the same
 * day come in above it); they are never the anchor. */
export function useVirtualList<E extends HTMLElement>(
  keys: readonly string[],
  onNearTop?: () => void,
  movable?: (key: string) => boolean,
): VirtualList<E> {
  const ref = useRef<E>(null);
  const heights = useRef(new Heights()).current;
  const [view, setView] = useState({ top: 0, height: 0 });
  const [, bump] = useState(0);
  const stick = useRef(true);
  const anchor = useRef<Anchor | null>(null);
  const observer = useRef<ResizeObserver | null>(null);
  const observed = useRef(new WeakSet<Element>());

  const offsets = offsetsOf(keys, heights);
  const latest = useRef({ keys, offsets });
  latest.current = { keys, offsets };
  const height = view.height || 800;
  const total = offsets[keys.length]!;
  // Render around where the effect below will scroll to, so no frame shows a spacer where rows should be.
  const anchored = !stick.current && anchor.current ? scrollFor(keys, offsets, anchor.current) : null;
  const range = rangeOf(offsets, stick.current ? Math.max(0, total - height) : (anchored ?? view.top), height);

  /** Measure the rendered rows: each row's slot is the distance to the next element (gaps and margins included). */
  const measure = (): boolean => {
    const el = ref.current;
    if (!el) return false;
    const items = Array.from(el.children) as HTMLElement[];
    let changed = false;
    for (let j = 0; j < items.length - 1; j++) {
      const key = items[j]!.dataset.key;
      if (!key) continue;
      const slot = items[j + 1]!.getBoundingClientRect().top - items[j]!.getBoundingClientRect().top;
      if (slot > 0 && heights.set(key, slot)) changed = true;
    }
    return changed;
  };

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    observer.current ??= new ResizeObserver(() => {
      if (measure()) bump((n) => n + 1);
    });
    for (const child of Array.from(el.children)) {
      if (!observed.current.has(child)) {
        observed.current.add(child);
        observer.current.observe(child);
      }
    }
    if (measure()) {
      bump((n) => n + 1); // render again with the true heights; the scroll position is put right then
      return;
    }
    if (view.height !== el.clientHeight) setView({ top: el.scrollTop, height: el.clientHeight });
    // Still near the top after a page came in (or the chat is shorter than the screen): ask for the next one.
    // The loader ignores this while a page is on its way and once there is nothing older.
    if (el.scrollTop < NEAR_TOP) onNearTop?.();
    if (stick.current) {
      if (Math.abs(el.scrollTop + el.clientHeight - el.scrollHeight) > 1) el.scrollTop = el.scrollHeight;
      return;
    }
    const a = anchor.current;
    const y = a ? scrollFor(keys, offsets, a) : null;
    if (y !== null && Math.abs(el.scrollTop - y) >= 1) el.scrollTop = y;
  });
  useLayoutEffect(() => () => observer.current?.disconnect(), []);

  return {
    ref,
    range,
    onScroll() {
      const el = ref.current;
      if (!el) return;
      stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < AT_BOTTOM;
      anchor.current = anchorOf(latest.current.keys, latest.current.offsets, el.scrollTop, movable);
      setView({ top: el.scrollTop, height: el.clientHeight });
      if (el.scrollTop < NEAR_TOP) onNearTop?.();
    },
    reveal(key) {
      stick.current = false;
      anchor.current = { key, offset: -Math.max(0, height / 2 - heights.get(key) / 2) };
      bump((n) => n + 1);
    },
    toBottom() {
      stick.current = true;
      bump((n) => n + 1);
    },
  };
}
