import { describe, expect, it } from "vitest";
import { Api, ApiError, type LinkClaim } from "../src/net/api";
import { LinkFlow } from "../src/net/linking";
import { AuthModel } from "../src/state/auth";
import { MemoryStore } from "./fakes";

function jsonResponse(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

describe("Api", () => {
  it("sends the token as a bearer header and turns error bodies into ApiError with the stable code", async () => {
    const seen: [string, RequestInit | undefined][] = [];
    const api = new Api("http://h", async (url, init) => {
      seen.push([url, init]);
      return jsonResponse(429, { error: { code: "rate_limited", message: "slow down", retry_after: 12.5 } });
    });
    api.token = "hh_abc";
    const err = await api.me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 429, code: "rate_limited", retryAfter: 12.5 });
    expect(seen[0]![0]).toBe("http://h/v1/me");
    expect((seen[0]![1]!.headers as Record<string, string>).Authorization).toBe("Bearer hh_abc");
    expect(seen[0]![1]!.credentials).toBe("omit");
  });
});

describe("LinkFlow (protocol 2.4)", () => {
  const req = { request_id: "l1", code: "K7QM-4XPA", uri: "hudhud:link/K7QM-4XPA", secret: "hh_s", expires_at: 1000 };

  it("polls claim with the secret until linked", async () => {
    const answers: LinkClaim[] = [{ status: "pending" }, { status: "pending" }, { status: "linked", user_id: "u1", device_id: "d1", token: "hh_t" }];
    const calls: unknown[] = [];
    const api = { claimLink: async (id: string, secret: string) => (calls.push([id, secret]), answers.shift()!) } as unknown as Api;
    const out = await new LinkFlow(api, { sleep: async () => undefined, now: () => 0 }).wait(req);
    expect(out).toEqual({ kind: "linked", login: { user_id: "u1", device_id: "d1", token: "hh_t" } });
    expect(calls).toEqual([["l1", "hh_s"], ["l1", "hh_s"], ["l1", "hh_s"]]);
  });

  it("stops at pairing_invalid or past expires_at, keeps polling through network trouble", async () => {
    let n = 0;
    const api = {
      claimLink: async () => {
        n++;
        if (n === 1) throw new TypeError("network");
        throw new ApiError(404, "pairing_invalid", "gone");
      },
    } as unknown as Api;
    expect(await new LinkFlow(api, { sleep: async () => undefined, now: () => 0 }).wait(req)).toEqual({ kind: "expired" });
    expect(n).toBe(2);
    const pending = { claimLink: async () => ({ status: "pending" }) } as unknown as Api;
    expect(await new LinkFlow(pending, { sleep: async () => undefined, now: () => 2000 }).wait(req)).toEqual({ kind: "expired" });
  });
});

describe("AuthModel", () => {
  it("requests a code, verifies it, stores the token and signs in", async () => {
    const store = new MemoryStore();
    const logins: unknown[] = [];
    const api = {
      requestCode: async (phone: string) => ({ phone: phone === "01001234567" ? "+201001234567" : phone, expires_in: 600 }),
      verify: async (phone: string, code: string, name: string) => {
        if (code !== "123456") throw new ApiError(400, "code_invalid", "no");
        return { user_id: "u1", device_id: "d1", token: "hh_t", phone, name };
      },
    } as unknown as Api;
    const auth = new AuthModel(api, store, "Chromium on Linux", (a) => logins.push(a));
    await auth.requestCode(" 01001234567 ");
    expect(auth.step.value).toBe("code");
    expect(auth.phone.value).toBe("+201001234567");
    await auth.verify("000000");
    expect(auth.problem.value).toEqual({ code: "code_invalid", retryAfter: null });
    await auth.verify("123456");
    expect(store.auth).toEqual({ token: "hh_t", user_id: "u1", device_id: "d1" });
    expect(logins).toHaveLength(1);
  });
});
