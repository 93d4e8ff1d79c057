// The REST half of the protocol (docs/protocol.md section 3): one method per endpoint this client uses, errors
// as ApiError with the stable code (section 3.1). No UI code, no state: callers decide what an error means.
import type { ChatStatePatch, Contact, ConversationInfo, Envelope, Watermark } from "./protocol";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
  /** The token is no good any more: forget it and show the login screen (section 2.2). */
  get loggedOut(): boolean {
    return this.status === 401;
  }
}

/** The network failed (server down, offline): not an answer from the server. */
export class NetworkError extends Error {
  override name = "NetworkError";
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface LinkRequest {
  request_id: string;
  code: string;
  uri: string;
  secret: string;
  expires_at: number;
}
export type LinkClaim =
  | { status: "pending" }
  | { status: "linked"; user_id: string; device_id: string; token: string };

export interface Login {
  user_id: string;
  device_id: string;
  token: string;
  new_account?: boolean;
}

export interface ChatStateAnswer {
  conversation_id: string;
  pinned: boolean;
  pinned_at: number | null;
  archived: boolean;
  muted_until: number | "always" | null;
}

export interface Me {
  user_id: string;
  phone: string;
  display_name: string;
  about: string;
  // privacy settings (3.4, 3.6); optional so that older fakes still type-check
  read_receipts?: boolean;
  last_seen?: Audience;
  group_add?: Audience;
  phone_privacy?: Audience;
  group_invites?: "everyone" | "contacts";
  picture?: string | null;
}

export type Audience = "everyone" | "contacts" | "nobody";
/** PATCH /v1/me/privacy (3.6): absent = unchanged; `phone` is shown by GET /v1/me as `phone_privacy`. */
export interface PrivacyChange {
  read_receipts?: boolean;
  last_seen?: Audience;
  group_add?: Audience;
  phone?: Audience;
  group_invites?: "everyone" | "contacts";
}

export interface Profile {
  user_id: string;
  phone: string | null;
  display_name: string;
  about: string;
}

// -- groups (3.15-3.17)
export type Role = "owner" | "admin" | "member";
export interface GroupSettings {
  only_admins_send: boolean;
  only_admins_edit: boolean;
  approve_joins: boolean;
}
export interface GroupView {
  conversation_id: string;
  subject: string;
  description: string;
  created_by: string;
  settings: GroupSettings;
  members: { user_id: string; role: Role; display_name: string }[];
}
export interface AddResult {
  conversation_id: string;
  added: string[];
  invited: string[];
}
export interface InviteLink {
  code: string;
  conversation_id: string;
  expires_at: number | null;
  max_uses: number | null;
  uses: number;
}
export interface JoinRequest {
  user_id: string;
  created_at: number;
}
export interface Invitation {
  invitation_id: string;
  conversation_id: string;
  subject: string;
  inviter_id: string;
  created_at: number;
  expires_at: number;
}

export interface Device {
  device_id: string;
  name: string;
  created_at: number;
  last_active_at: number | null;
  current: boolean;
}

export class Api {
  token: string | null = null;
  /** The server's clock minus ours (ms, ±1 s), from the last response's Date header: times such as a link
   * request's `expires_at` are on the server's clock (protocol 2.5). */
  skewMs = 0;

  constructor(
    private readonly base = "",
    private readonly fetchFn: Fetch = (input, init) => fetch(input, init),
  ) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers["Authorization"] = `Bearer ${this.token}`;
    let resp: Response;
    try {
      resp = await this.fetchFn(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (exc) {
      throw new NetworkError(String(exc));
    }
    const date = resp.headers.get("Date");
    if (date && !Number.isNaN(Date.parse(date))) this.skewMs = Date.parse(date) - Date.now();
    if (resp.status === 204) return undefined as T;
    let data: unknown = null;
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
    if (!resp.ok) {
      const err = (data as { error?: { code?: string; message?: string; retry_after?: number } } | null)?.error;
      throw new ApiError(resp.status, err?.code ?? "http_" + resp.status, err?.message ?? resp.statusText,
        err?.retry_after ?? null);
    }
    return data as T;
  }

  // -- 2.1, 3.2, 3.3: SMS code login
  requestCode(phone: string): Promise<{ phone: string; expires_in: number }> {
    return this.call("POST", "/v1/auth/code", { phone });
  }
  verify(phone: string, code: string, deviceName: string): Promise<Login> {
    return this.call("POST", "/v1/auth/verify", { phone, code, device_name: deviceName });
  }

  // -- 2.5: linking with a pairing code
  createLinkRequest(deviceName: string): Promise<LinkRequest> {
    return this.call("POST", "/v1/link/requests", { device_name: deviceName });
  }
  claimLink(requestId: string, secret: string): Promise<LinkClaim> {
    return this.call("POST", `/v1/link/requests/${encodeURIComponent(requestId)}/claim`, { secret });
  }
  approveLink(code: string): Promise<{ status: "approved"; device_name: string }> {
    return this.call("POST", "/v1/link/approve", { code });
  }

  // -- 3.4, 3.7, 3.8: me and my devices
  me(): Promise<Me> {
    return this.call("GET", "/v1/me");
  }
  updateMe(change: { display_name?: string; about?: string; picture?: string }): Promise<Me> {
    return this.call("PATCH", "/v1/me", change);
  }
  devices(): Promise<Device[]> {
    return this.call<{ devices: Device[] }>("GET", "/v1/devices").then((r) => r.devices);
  }
  revokeDevice(deviceId: string): Promise<void> {
    return this.call("DELETE", `/v1/devices/${encodeURIComponent(deviceId)}`);
  }

  // -- 3.6, 3.9: privacy, someone's profile
  updatePrivacy(change: PrivacyChange): Promise<Me> {
    return this.call("PATCH", "/v1/me/privacy", change);
  }
  user(userId: string): Promise<Profile> {
    return this.call("GET", `/v1/users/${encodeURIComponent(userId)}`);
  }

  // -- 3.15: groups
  createGroup(subject: string, description: string, members: string[]): Promise<AddResult> {
    return this.call("POST", "/v1/groups", { subject, description, members });
  }
  group(id: string): Promise<GroupView> {
    return this.call("GET", `/v1/groups/${encodeURIComponent(id)}`);
  }
  updateGroup(id: string, change: { subject?: string; description?: string }): Promise<void> {
    return this.call("PATCH", `/v1/groups/${encodeURIComponent(id)}`, change);
  }
  updateGroupSettings(id: string, change: Partial<GroupSettings>): Promise<void> {
    return this.call("PATCH", `/v1/groups/${encodeURIComponent(id)}/settings`, change);
  }
  addMembers(id: string, userIds: string[]): Promise<AddResult> {
    return this.call("POST", `/v1/groups/${encodeURIComponent(id)}/members`, { user_ids: userIds });
  }
  removeMember(id: string, userId: string): Promise<void> {
    return this.call("DELETE", `/v1/groups/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}`);
  }
  setRole(id: string, userId: string, to: "admin" | "member"): Promise<void> {
    const verb = to === "admin" ? "promote" : "demote";
    return this.call("POST", `/v1/groups/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}/${verb}`);
  }
  leaveGroup(id: string, report = false, reason = ""): Promise<void> {
    return this.call("POST", `/v1/groups/${encodeURIComponent(id)}/leave`, report ? { report, reason } : {});
  }

  // -- 3.16: invite links and join requests
  createInviteLink(id: string, opts: { expires_in?: number; max_uses?: number } = {}): Promise<InviteLink> {
    return this.call("POST", `/v1/groups/${encodeURIComponent(id)}/links`, opts);
  }
  inviteLinks(id: string): Promise<InviteLink[]> {
    return this.call<{ links: InviteLink[] }>("GET", `/v1/groups/${encodeURIComponent(id)}/links`).then((r) => r.links);
  }
  revokeInviteLink(id: string, code: string): Promise<void> {
    return this.call("DELETE", `/v1/groups/${encodeURIComponent(id)}/links/${encodeURIComponent(code)}`);
  }
  joinGroup(code: string): Promise<{ conversation_id: string; status: "joined" | "requested" }> {
    return this.call("POST", "/v1/groups/join", { code });
  }
  joinRequests(id: string): Promise<JoinRequest[]> {
    return this.call<{ requests: JoinRequest[] }>("GET", `/v1/groups/${encodeURIComponent(id)}/requests`).then((r) => r.requests);
  }
  answerJoinRequest(id: string, userId: string, approve: boolean): Promise<void> {
    const verb = approve ? "approve" : "reject";
    return this.call("POST", `/v1/groups/${encodeURIComponent(id)}/requests/${encodeURIComponent(userId)}/${verb}`);
  }

  // -- 3.17: invitations
  invitations(): Promise<Invitation[]> {
    return this.call<{ invitations: Invitation[] }>("GET", "/v1/invitations").then((r) => r.invitations);
  }
  answerInvitation(invitationId: string, accept: boolean): Promise<{ conversation_id: string } | undefined> {
    return this.call("POST", `/v1/invitations/${encodeURIComponent(invitationId)}/${accept ? "accept" : "decline"}`);
  }

  // -- 3.10, 3.11: contacts and discovery
  contacts(): Promise<Contact[]> {
    return this.call<{ contacts: Contact[] }>("GET", "/v1/contacts").then((r) => r.contacts);
  }
  addContacts(entries: { phone: string; name?: string }[]): Promise<Contact[]> {
    return this.call<{ contacts: Contact[] }>("POST", "/v1/contacts", { contacts: entries }).then((r) => r.contacts);
  }

  // -- 3.18: blocking and reports
  blocks(): Promise<string[]> {
    return this.call<{ blocked: string[] }>("GET", "/v1/blocks").then((r) => r.blocked);
  }
  block(userId: string): Promise<void> {
    return this.call("POST", "/v1/blocks", { user_id: userId, report: false });
  }
  unblock(userId: string): Promise<void> {
    return this.call("DELETE", `/v1/blocks/${encodeURIComponent(userId)}`);
  }
  report(r: { user_id?: string; conversation_id?: string; messages?: number[]; block?: boolean; reason?: string }): Promise<{ report_id: string }> {
    return this.call("POST", "/v1/reports", r);
  }

  // -- 3.13, 3.14: conversations and history
  conversations(): Promise<ConversationInfo[]> {
    return this.call<{ conversations: ConversationInfo[] }>("GET", "/v1/conversations").then((r) => r.conversations);
  }
  chatState(conversationId: string, patch: ChatStatePatch): Promise<ChatStateAnswer> {
    return this.call("PATCH", `/v1/conversations/${encodeURIComponent(conversationId)}/state`, patch);
  }
  history(conversationId: string, before?: number, limit = 50): Promise<{ messages: Envelope[]; receipts: Watermark[] }> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before !== undefined) q.set("before", String(before));
    return this.call("GET", `/v1/conversations/${encodeURIComponent(conversationId)}/messages?${q}`);
  }
}
