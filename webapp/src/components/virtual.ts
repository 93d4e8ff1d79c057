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

// The message list has rows of any height, so instead of a fixed-height range it keeps a sliding window of at
// most MAX rows: the newest INITIAL at first, STEP more when the user scrolls to either edge (dropping as many
// at the other edge), and the window follows new messages while it is at the end.

export interface MessageWindow {
  start: number;
  end: number;
  follow: boolean; // the window ends at the newest row and moves with it
}

export const WINDOW = { INITIAL: 150, STEP: 100, MAX: 300 };

export function initialWindow(n: number): MessageWindow {
  return { start: Math.max(0, n - WINDOW.INITIAL), end: n, follow: true };
}

/** The window after the list changed to `n` rows (new messages, or a chat of a different length). */
export function fitWindow(w: MessageWindow, n: number): MessageWindow {
  if (w.follow) {
    const start = Math.max(0, Math.min(w.start, n), n - WINDOW.MAX);
    return { start: Math.min(start, Math.max(0, n - 1)), end: n, follow: true };
  }
  const end = Math.min(w.end, n);
  return { start: Math.min(w.start, end), end, follow: end === n };
}

export function windowUp(w: MessageWindow, n: number): MessageWindow {
  const start = Math.max(0, w.start - WINDOW.STEP);
  const end = Math.min(w.end, start + WINDOW.MAX);
  return { start, end, follow: end === n };
}

export function windowDown(w: MessageWindow, n: number): MessageWindow {
  const end = Math.min(n, w.end + WINDOW.STEP);
  const start = Math.max(w.start, end - WINDOW.MAX);
  return { start, end, follow: end === n };
}

export function windowAround(i: number, n: number): MessageWindow {
  const start = Math.max(0, Math.min(i - 50, n - WINDOW.INITIAL));
  const end = Math.min(n, start + WINDOW.INITIAL);
  return { start, end, follow: end === n };
}
