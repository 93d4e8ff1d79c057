import { describe, expect, it } from "vitest";
import { visibleRange } from "../src/components/virtual";

describe("visibleRange", () => {
  it("renders what is on screen plus a margin, with spacers for the rest", () => {
    expect(visibleRange(0, 680, 68, 1000, 5)).toEqual({ start: 0, end: 15, before: 0, after: 985 * 68 });
    const mid = visibleRange(68 * 500, 680, 68, 1000, 5);
    expect(mid).toEqual({ start: 495, end: 515, before: 495 * 68, after: 485 * 68 });
    expect(visibleRange(68 * 2000, 680, 68, 1000, 5)).toMatchObject({ end: 1000, after: 0 });
    expect(visibleRange(0, 680, 68, 3, 5)).toEqual({ start: 0, end: 3, before: 0, after: 0 });
  });
});
