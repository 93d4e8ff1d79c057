// The app's top-level model: signed out (AuthModel) or signed in (ChatStore over a Session). It owns the
// lifecycle: boot from IndexedDB, start the session, and on logout revoke the device and wipe local data.
import { effect, signal } from "@preact/signals";
import { Api, type Device, type Me } from "../net/api";
import type { Auth, LocalStore } from "../net/db";
import { Session, type SocketFactory } from "../net/session";
import { AuthModel } from "./auth";
import { ChatStore } from "./chats";
import { ConnectionModel } from "./connection";
import { GroupsModel } from "./groups";
import { PrivacyModel } from "./privacy";
import { MediaModel, jobFor } from "./media";
import { MediaClient } from "../net/media";

export type Phase = "loading" | "signed_out" | "signed_in";

export interface AppDeps {
  store: LocalStore;
  api: Api;
  wsUrl: string;
  deviceName: string;
  socketFactory?: SocketFactory;
}

export interface SignedIn {
  auth: Auth;
  chats: ChatStore;
  session: Session;
  connection: ConnectionModel;
  groups: GroupsModel;
  privacy: PrivacyModel;
  media: MediaModel;
}

export class AppModel {
  readonly phase = signal<Phase>("loading");
  readonly signedIn = signal<SignedIn | null>(null);
  readonly auth: AuthModel;
  /** My account's devices (protocol 3.7), loaded when Settings opens. */
  readonly devices = signal<Device[] | null>(null);
  /** My profile (protocol 3.4), loaded when Settings opens. */
  readonly me = signal<Me | null>(null);
  private stopWatch: (() => void) | null = null;

  constructor(private readonly deps: AppDeps) {
    this.auth = new AuthModel(deps.api, deps.store, deps.deviceName, (auth) => {
      void this.enter(auth);
    });
  }

  async boot(): Promise<void> {
    const snap = await this.deps.store.load();
    if (!snap.auth) {
      this.phase.value = "signed_out";
      return;
    }
    await this.enter(snap.auth, snap);
  }

  private async enter(auth: Auth, snap?: Awaited<ReturnType<LocalStore["load"]>>): Promise<void> {
    const data = snap ?? (await this.deps.store.load());
    this.deps.api.token = auth.token;
    const chats = new ChatStore({ me: auth.user_id, api: this.deps.api, store: this.deps.store });
    chats.hydrate(data.conversations, data.messages, data.outbox, data.contacts);
    const session = new Session({
      url: this.deps.wsUrl,
      token: auth.token,
      store: this.deps.store,
      listener: chats,
      known: data.messages,
      outbox: data.outbox,
      ...(this.deps.socketFactory ? { socketFactory: this.deps.socketFactory } : {}),
    });
    chats.sender = session;
    const media = new MediaModel({
      client: new MediaClient(() => this.deps.api.token),
      store: this.deps.store,
      send: (entry) => session.send(entry),
      failed: (entry, code) => chats.sendFailed(entry, code),
    });
    chats.media = media;
    const connection = new ConnectionModel(chats.connStatus, () => session.retryNow());
    const groups = new GroupsModel(this.deps.api, chats);
    const privacy = new PrivacyModel(this.deps.api, chats);
    this.signedIn.value = { auth, chats, session, connection, groups, privacy, media };
    this.phase.value = "signed_in";
    const stopGroups = groups.start();
    const stopLogout = effect(() => {
      if (chats.isLoggedOut.value) void this.wipe("logged_out");
    });
    this.stopWatch = () => {
      stopGroups();
      stopLogout();
    };
    session.start();
    media.resume(data.outbox);
  }

  async loadMe(): Promise<void> {
    try {
      this.me.value = await this.deps.api.me();
    } catch {
      this.me.value = null;
    }
  }

  /** Change my name and about text (3.5); others see it from their next conversation or contact refresh. */
  async saveProfile(displayName: string, about: string): Promise<void> {
    this.me.value = await this.deps.api.updateMe({ display_name: displayName, about });
  }

  /** Upload a picture and make it my profile picture (3.5), or clear it with null. */
  async setPicture(file: Blob | null): Promise<void> {
    const s = this.signedIn.peek();
    if (!s) return;
    if (!file) {
      this.me.value = await this.deps.api.updateMe({ picture: "" });
      return;
    }
    const info = await s.media.client.upload(jobFor(file, "image", (file as File).name ?? "picture"));
    this.me.value = await this.deps.api.updateMe({ picture: info.media_id });
  }

  async loadDevices(): Promise<void> {
    try {
      this.devices.value = await this.deps.api.devices();
    } catch {
      this.devices.value = null;
    }
  }

  /** Log out another device of mine (2.3); this one goes through logout(). */
  async revokeDevice(deviceId: string): Promise<void> {
    if (deviceId === this.signedIn.peek()?.auth.device_id) return this.logout();
    await this.deps.api.revokeDevice(deviceId);
    await this.loadDevices();
  }

  /** Approve another browser's pairing code for this account (protocol 2.5, step 2). */
  async approveLink(code: string): Promise<string> {
    const name = (await this.deps.api.approveLink(code)).device_name;
    void this.loadDevices();
    return name;
  }

  /** Log out: revoke this device on the server (2.3), then forget everything this browser kept. */
  async logout(): Promise<void> {
    const s = this.signedIn.peek();
    if (!s) return;
    s.session.stop(); // first: the server's 4401 for the revoked device would read as "logged out elsewhere"
    try {
      await this.deps.api.revokeDevice(s.auth.device_id);
    } catch {
      // Offline or already revoked: the local data goes anyway; the device can be revoked from another one.
    }
    await this.wipe(null);
  }

  private async wipe(notice: "logged_out" | null): Promise<void> {
    const s = this.signedIn.peek();
    this.stopWatch?.();
    this.stopWatch = null;
    if (s) {
      s.session.stop();
      s.connection.dispose();
    }
    this.deps.api.token = null;
    this.signedIn.value = null;
    await this.deps.store.wipe();
    this.auth.notice.value = notice;
    this.phase.value = "signed_out";
  }
}
