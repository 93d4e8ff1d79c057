// Which rows of a fixed-height list are on screen (plus a margin): the chat list renders only those, so 1,000
// chats cost the DOM of about twenty.

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
