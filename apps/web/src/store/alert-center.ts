import type { ConversationId, Message } from '@relay-chat/protocol';
import { type AlertSettings, DEFAULT_ALERT_SETTINGS, notificationText, shouldAlert } from '../lib/alerts.js';
import { conversationTitle } from '../lib/conversations.js';
import { parseRoute, routeHash } from '../lib/route.js';
import type { ChatStore } from './chat-store.js';

/** What the browser allows: the Notification API's permission, or `unsupported`. */
export type DesktopPermission = 'default' | 'granted' | 'denied' | 'unsupported';

const storageKey = (userId: string) => `relay-chat.alerts.${userId}`;

/**
 * Desktop notifications and the sound for new DMs and mentions. Permission is asked only from
 * `enableDesktop`, which the settings dialog calls from a click, never on load. A click on a
 * notification focuses the tab and opens the conversation; reading a conversation closes its
 * notifications.
 */
export class AlertCenter {
  readonly #store: ChatStore;
  readonly #userId: string;
  #settings: AlertSettings;
  readonly #listeners = new Set<() => void>();
  readonly #shown = new Map<ConversationId, Notification[]>();
  #audio: AudioContext | undefined;
  readonly #unsubscribe: () => void;

  constructor(store: ChatStore, userId: string) {
    this.#store = store;
    this.#userId = userId;
    this.#settings = this.#load();
    this.#unsubscribe = store.subscribe(() => this.#closeRead());
  }

  dispose(): void {
    this.#unsubscribe();
    for (const list of this.#shown.values()) for (const n of list) n.close();
    this.#shown.clear();
    void this.#audio?.close().catch(() => {});
  }

  // ---- settings, for React (useSyncExternalStore) -----------------------------------------

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getSettings = (): AlertSettings => this.#settings;

  permission(): DesktopPermission {
    return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
  }

  update(change: Partial<AlertSettings>): void {
    this.#settings = { ...this.#settings, ...change };
    try {
      localStorage.setItem(storageKey(this.#userId), JSON.stringify(this.#settings));
    } catch {
      // Storage full or blocked: the choice holds for this page.
    }
    for (const listener of [...this.#listeners]) listener();
  }

  /** Asks the browser's permission (call from a user action) and turns notifications on if given. */
  async enableDesktop(): Promise<DesktopPermission> {
    if (typeof Notification === 'undefined') return 'unsupported';
    const answer =
      Notification.permission === 'default'
        ? await Notification.requestPermission()
        : Notification.permission;
    this.update({ desktop: answer === 'granted' });
    return answer;
  }

  // ---- messages -------------------------------------------------------------------------

  /** Called for every delivered message (after the store has taken it in). */
  onMessage(message: Message): void {
    const state = this.#store.getState();
    const conversation = state.conversations.get(message.conv);
    const route = parseRoute(window.location.hash);
    const hidden = document.visibilityState !== 'visible';
    const alert = shouldAlert(message, {
      me: state.me,
      conversation,
      hidden,
      openId: route.view === 'conversation' ? route.id : undefined,
      now: Date.now(),
    });
    if (!alert || !conversation) return;
    if (this.#settings.sound) this.#beep();
    if (!hidden || !this.#settings.desktop || this.permission() !== 'granted') return;
    const sender = state.users.get(message.from)?.username ?? 'Someone';
    const text = notificationText(
      message,
      conversation,
      sender,
      conversationTitle(conversation, state.me?.id),
    );
    try {
      const notification = new Notification(text.title, {
        body: text.body,
        tag: message.conv,
        icon: '/favicon.svg',
      });
      notification.onclick = () => {
        window.focus();
        const hash = routeHash({ view: 'conversation', id: message.conv });
        if (window.location.hash !== hash) window.location.hash = hash;
        notification.close();
      };
      const list = this.#shown.get(message.conv) ?? [];
      list.push(notification);
      this.#shown.set(message.conv, list);
    } catch {
      // Some browsers allow notifications only from a service worker: nothing to show then.
    }
  }

  #closeRead(): void {
    if (this.#shown.size === 0) return;
    const { conversations } = this.#store.getState();
    for (const [conv, list] of this.#shown) {
      if ((conversations.get(conv)?.unread ?? 0) > 0) continue;
      for (const n of list) n.close();
      this.#shown.delete(conv);
    }
  }

  /** A short, soft two-tone beep (WebAudio; no file to fetch). */
  #beep(): void {
    try {
      this.#audio ??= new AudioContext();
      const ctx = this.#audio;
      const gain = ctx.createGain();
      gain.connect(ctx.destination);
      const start = ctx.currentTime;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.15, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.25);
      for (const [freq, at] of [
        [880, 0],
        [1320, 0.09],
      ] as const) {
        const osc = ctx.createOscillator();
        osc.type = 'sine';
        osc.frequency.value = freq;
        osc.connect(gain);
        osc.start(start + at);
        osc.stop(start + at + 0.16);
      }
    } catch {
      // No audio output: stay silent.
    }
  }

  #load(): AlertSettings {
    try {
      const raw = JSON.parse(
        localStorage.getItem(storageKey(this.#userId)) ?? 'null',
      ) as Partial<AlertSettings> | null;
      return {
        desktop: raw?.desktop === true,
        sound: raw?.sound === true,
      };
    } catch {
      return DEFAULT_ALERT_SETTINGS;
    }
  }
}
