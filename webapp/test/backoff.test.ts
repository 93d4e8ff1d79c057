import { describe, expect, it } from "vitest";
import { Backoff } from "../src/net/backoff";

describe("full-jitter backoff", () => {
  it("draws uniformly below a doubling, capped ceiling and starts again after a welcome", () => {
    const top = new Backoff({ baseMs: 1000, capMs: 8000, random: () => 0.999999 });
    expect([1, 2, 3, 4, 5, 6].map(() => top.next())).toEqual([999, 1999, 3999, 7999, 7999, 7999]);
    top.reset();
    expect(top.next()).toBe(999);
    const low = new Backoff({ random: () => 0 });
    expect(low.next()).toBe(250); // a floor, so a flapping server is not hammered
  });
});
