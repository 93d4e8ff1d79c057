// Virtual lists: only the rows on screen (plus a margin) are in the DOM, the rest is two spacers.
//
// The chat list has rows of one fixed height, so `visibleRange` is arithmetic. The message list has rows of any
// height (a one-word bubble, a long paragraph, a day label), so it measures: `Heights` keeps the measured block
// size of each row by key (an estimate until a row has been on screen once), `offsetsOf` turns them into
// prefix sums, and `rangeOf` finds the rendered slice by binary search. A chat of 10,000 messages therefore
// costs the DOM of the thirty or so rows that fit the viewport, however far the user scrolls.
//
// Anchoring: what the user looks at must not move when rows are added above it (older history) or when a row
// above it turns out to be taller or shorter than estimated. The view keeps an `Anchor` (the key of the row at
// the top of the viewport and how far into it the viewport starts) and, after each render, puts the scroll
// position back with `scrollFor`. At the bottom the view follows new messages instead ("stick").

export interface Range {
  start: number; // first index rendered
  end: number; // one past the last
  before: number; // px of empty space above
  after: number; // px below
}

export function visibleRange(scrollTop: number, viewport: number, rowHeight: number, count: number, overscan = 6): Range {
  const first = Math.min(count, Math.max(0, Math.floor(scrollTop / rowHeight) - overscan));
  const last = Math.min(count, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  const end = Math.max(first, last);
  return { start: first, end, before: first * rowHeight, after: (count - end) * rowHeight };
}

/** Measured block sizes by row key; rows not measured yet count as `estimate`. */
export class Heights {
  private readonly map = new Map<string, number>();
  constructor(readonly estimate = 56) {}

  get(key: string): number {
    return this.map.get(key) ?? this.estimate;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** Record a measurement; true if it changed what the list believed (sub-pixel noise ignored). */
  set(key: string, px: number): boolean {
    const old = this.map.get(key);
    if (old !== undefined && Math.abs(old - px) < 0.5) return false;
    this.map.set(key, px);
    return true;
  }
}

/** offsets[i] is the top of row i, offsets[n] the total height. */
export function offsetsOf(keys: readonly string[], heights: Heights): Float64Array {
  const out = new Float64Array(keys.length + 1);
  for (let i = 0; i < keys.length; i++) out[i + 1] = out[i]! + heights.get(keys[i]!);
  return out;
}

/** The row that contains position y (clamped to the list). */
export function indexAt(offsets: Float64Array, y: number): number {
  const n = offsets.length - 1;
  if (n <= 0) return 0;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid]! <= y) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The rows to render for a viewport at `scrollTop` of height `viewport`, with `overscan` px either side. */
export function rangeOf(offsets: Float64Array, scrollTop: number, viewport: number, overscan = 600): Range {
  const n = offsets.length - 1;
  if (n <= 0) return { start: 0, end: 0, before: 0, after: 0 };
  const start = indexAt(offsets, scrollTop - overscan);
  const end = Math.min(n, indexAt(offsets, scrollTop + viewport + overscan) + 1);
  return { start, end, before: offsets[start]!, after: offsets[n]! - offsets[end]! };
}

export interface Anchor {
  key: string; // the row at the top of the viewport
  offset: number; // px from that row's top to the viewport's top (negative if the row starts lower)
}

/** The row at the top of the viewport, skipping rows that may move (`movable`) for the next one after them. */
export function anchorOf(
  keys: readonly string[],
  offsets: Float64Array,
  scrollTop: number,
  movable: (key: string) => boolean = () => false,
): Anchor | null {
  if (!keys.length) return null;
  let i = indexAt(offsets, scrollTop);
  while (i < keys.length - 1 && movable(keys[i]!)) i++;
  return { key: keys[i]!, offset: scrollTop - offsets[i]! };
}

/** Where to scroll so the anchored row is where it was; null if that row is gone. */
export function scrollFor(keys: readonly string[], offsets: Float64Array, anchor: Anchor): number | null {
  const i = keys.lastIndexOf(anchor.key); // new rows come mostly at the ends; either way this is one pass
  return i < 0 ? null : offsets[i]! + anchor.offset;
}
