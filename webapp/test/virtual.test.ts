import { describe, expect, it } from "vitest";
import { fitWindow, initialWindow, visibleRange, windowAround, windowDown, windowUp } from "../src/components/virtual";

describe("visibleRange", () => {
  it("renders what is on screen plus a margin, with spacers for the rest", () => {
    expect(visibleRange(0, 680, 68, 1000, 5)).toEqual({ start: 0, end: 15, before: 0, after: 985 * 68 });
    const mid = visibleRange(68 * 500, 680, 68, 1000, 5);
    expect(mid).toEqual({ start: 495, end: 515, before: 495 * 68, after: 485 * 68 });
    expect(visibleRange(68 * 2000, 680, 68, 1000, 5)).toMatchObject({ end: 1000, after: 0 });
    expect(visibleRange(0, 680, 68, 3, 5)).toEqual({ start: 0, end: 3, before: 0, after: 0 });
  });
});



describe("message window", () => {
  it("starts with the newest rows and follows new ones, never holding more than MAX", () => {
    let w = initialWindow(10000);
    expect(w).toEqual({ start: 9850, end: 10000, follow: true });
    w = fitWindow(w, 10001);
    expect(w).toEqual({ start: 9850, end: 10001, follow: true });
    expect(initialWindow(3)).toEqual({ start: 0, end: 3, follow: true });
  });
  it("slides up and down by STEP, dropping rows at the other edge", () => {
    let w = initialWindow(10000);
    w = windowUp(w, 10000);
    expect(w).toEqual({ start: 9750, end: 10000, follow: true });
    w = windowUp(w, 10000);
    expect(w).toEqual({ start: 9650, end: 9950, follow: false });
    w = fitWindow(w, 10005); // new messages below do not move a window that is not at the end
    expect(w).toEqual({ start: 9650, end: 9950, follow: false });
    w = windowDown(w, 10005);
    expect(w).toEqual({ start: 9705, end: 10005, follow: true });
    for (let i = 0; i < 200; i++) w = windowUp(w, 10005);
    expect(w).toEqual({ start: 0, end: 300, follow: false });
  });
  it("centres on a quoted message", () => {
    expect(windowAround(400, 10000)).toEqual({ start: 350, end: 500, follow: false });
    expect(windowAround(9990, 10000)).toEqual({ start: 9850, end: 10000, follow: true });
  });
});
