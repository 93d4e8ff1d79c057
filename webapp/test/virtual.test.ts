import { describe, expect, it } from "vitest";
import { anchorOf, Heights, indexAt, offsetsOf, rangeOf, scrollFor, visibleRange } from "../src/components/virtual";

describe("visibleRange", () => {
  it("renders what is on screen plus a margin, with spacers for the rest", () => {
    expect(visibleRange(0, 680, 68, 1000, 5)).toEqual({ start: 0, end: 15, before: 0, after: 985 * 68 });
    const mid = visibleRange(68 * 500, 680, 68, 1000, 5);
    expect(mid).toEqual({ start: 495, end: 515, before: 495 * 68, after: 485 * 68 });
    expect(visibleRange(68 * 2000, 680, 68, 1000, 5)).toMatchObject({ end: 1000, after: 0 });
    expect(visibleRange(0, 680, 68, 3, 5)).toEqual({ start: 0, end: 3, before: 0, after: 0 });
  });
});

const keysOf = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `k${from + i}`);

describe("variable-height virtualizer", () => {
  it("uses measured heights and the estimate for the rest", () => {
    const h = new Heights(50);
    const keys = keysOf(0, 4);
    expect(h.set("k1", 120)).toBe(true);
    expect(h.set("k1", 120.2)).toBe(false); // sub-pixel noise is no change
    expect(Array.from(offsetsOf(keys, h))).toEqual([0, 50, 170, 220, 270]);
  });

  it("finds the row at a position by binary search, clamped", () => {
    const offsets = offsetsOf(keysOf(0, 5), new Heights(10));
    expect(indexAt(offsets, -5)).toBe(0);
    expect(indexAt(offsets, 0)).toBe(0);
    expect(indexAt(offsets, 19.9)).toBe(1);
    expect(indexAt(offsets, 20)).toBe(2);
    expect(indexAt(offsets, 999)).toBe(4);
  });

  it("renders a bounded slice of 10,000 rows wherever the viewport is", () => {
    const h = new Heights(40);
    const keys = keysOf(0, 10000);
    for (let i = 0; i < 10000; i += 3) h.set(keys[i]!, 120); // every third row is tall
    const offsets = offsetsOf(keys, h);
    for (const top of [0, 123456, offsets[10000]! - 800]) {
      const r = rangeOf(offsets, top, 800, 600);
      expect(r.end - r.start).toBeLessThanOrEqual(60);
      expect(r.before).toBe(offsets[r.start]);
      expect(r.before + (offsets[r.end]! - offsets[r.start]!) + r.after).toBe(offsets[10000]);
      expect(offsets[r.start]!).toBeLessThanOrEqual(Math.max(0, top));
      expect(offsets[r.end]!).toBeGreaterThanOrEqual(Math.min(offsets[10000]!, top + 800));
    }
    expect(rangeOf(offsetsOf([], h), 0, 800)).toEqual({ start: 0, end: 0, before: 0, after: 0 });
  });

  it("keeps the row on screen still when older rows are prepended", () => {
    const h = new Heights(50);
    let keys = keysOf(100, 200);
    let offsets = offsetsOf(keys, h);
    const scrollTop = offsets[10]! + 17; // 17 px into row k110
    const anchor = anchorOf(keys, offsets, scrollTop)!;
    expect(anchor).toEqual({ key: "k110", offset: 17 });

    keys = [...keysOf(0, 100), ...keys]; // a page of history arrives above
    for (let i = 0; i < 100; i += 2) h.set(`k${i}`, 80); // some of them measured already, taller
    offsets = offsetsOf(keys, h);
    const y = scrollFor(keys, offsets, anchor)!;
    expect(y).toBe(50 * 80 + 50 * 50 + 10 * 50 + 17);
    expect(anchorOf(keys, offsets, y)).toEqual(anchor); // the same row, the same distance from the top
  });

  it("keeps it still when a row above turns out taller, and when new rows arrive below", () => {
    const h = new Heights(50);
    let keys = keysOf(0, 50);
    let offsets = offsetsOf(keys, h);
    const anchor = anchorOf(keys, offsets, 30 * 50 + 5)!;
    h.set("k3", 400); // measured after an image loaded, say
    keys = [...keys, "k50", "k51"];
    offsets = offsetsOf(keys, h);
    expect(scrollFor(keys, offsets, anchor)).toBe(30 * 50 + 350 + 5);
    expect(scrollFor(["other"], offsetsOf(["other"], h), anchor)).toBeNull(); // the row went away
  });

  it("never anchors on a row that moves (a day label above older messages of its day)", () => {
    const h = new Heights(50);
    let keys = ["d1", "s100", "s101"];
    let offsets = offsetsOf(keys, h);
    const anchor = anchorOf(keys, offsets, 10, (k) => k.startsWith("d"))!;
    expect(anchor).toEqual({ key: "s100", offset: -40 });
    keys = ["d1", "s98", "s99", "s100", "s101"]; // the label moved up with the page
    offsets = offsetsOf(keys, h);
    expect(scrollFor(keys, offsets, anchor)).toBe(150 - 40);
  });
});
