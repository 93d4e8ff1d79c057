import { describe, expect, it } from "vitest";
import { linkify, safeHref } from "../src/components/linkify";

describe("links in message text", () => {
  it("links http and https only, without trailing punctuation", () => {
    expect(linkify("see https://example.org/a?b=1. and http://x.test")).toEqual([
      { kind: "text", text: "see " },
      { kind: "link", text: "https://example.org/a?b=1", href: "https://example.org/a?b=1" },
      { kind: "text", text: ". and " },
      { kind: "link", text: "http://x.test", href: "http://x.test/" },
    ]);
  });
  it("never links javascript:, data: or other schemes", () => {
    for (const s of ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "[x](javascript:alert(1))", "data:text/html,<b>", "vbscript:x", "javascript://%0aalert(1)"]) {
      expect(linkify(s).every((seg) => seg.kind === "text")).toBe(true);
      expect(safeHref(s)).toBeNull();
    }
  });
  it("keeps markup as text", () => {
    expect(linkify("<img src=x onerror=alert(1)>")).toEqual([{ kind: "text", text: "<img src=x onerror=alert(1)>" }]);
  });
  it("handles Arabic around links", () => {
    const segs = linkify("انظر https://example.org، شكرا");
    expect(segs[1]).toEqual({ kind: "link", text: "https://example.org", href: "https://example.org/" });
    expect(segs[2]).toEqual({ kind: "text", text: "، شكرا" });
  });
});
