// A WebSocket that carries IRC lines (IRCv3 WebSocket: one line per message,
// no CR LF) and comes back by itself: after a close it reconnects with
// exponential backoff and jitter until stopped. A silent link is probed with
// PING and dropped if the probe goes unanswered, so a dead peer is noticed.

export const SUBPROTOCOLS = ['text.ircv3.net'];

export const BACKOFF = { baseMs: 500, maxMs: 30000, jitter: 0.2 };

/** The wait before reconnect attempt `attempt` (0-based): base * 2^attempt,
 * capped, then spread by ±jitter so many clients do not return in step. */
export function backoffDelay(attempt, random = Math.random, { baseMs, maxMs, jitter } = BACKOFF) {
  const plain = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(plain * (1 - jitter + 2 * jitter * random()));
}

/** The WebSocket address of the page's own server: `/ws` on the same host
 * and port, `wss:` when the page came over https. */
export function defaultUrl(location) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

export class Connection {
  /**
   * `handlers`: onOpen(), onLine(line), onStatus({ state, delayMs, attempt, reason }).
   * States: 'connecting', 'open', 'waiting' (before a retry), 'stopped'.
   * `env` makes the clock and the socket replaceable in tests.
   */
  constructor(url, handlers, env = {}) {
    this.url = url;
    this.handlers = handlers;
    this.WebSocket = env.WebSocket ?? globalThis.WebSocket;
    this.setTimeout = env.setTimeout ?? globalThis.setTimeout.bind(globalThis);
    this.clearTimeout = env.clearTimeout ?? globalThis.clearTimeout.bind(globalThis);
    this.random = env.random ?? Math.random;
    this.idleMs = env.idleMs ?? 60000;
    this.attempt = 0;
    this.socket = null;
    this.retryTimer = null;
    this.idleTimer = null;
    this.probing = false;
    this.stopped = true;
    this.decoder = new TextDecoder();
  }

  start() {
    this.stopped = false;
    this.open();
  }

  /** Closes for good: no reconnect. */
  stop() {
    this.stopped = true;
    this.clearTimeout(this.retryTimer);
    this.clearTimeout(this.idleTimer);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
    this.status('stopped');
  }

  /** Skips the rest of the backoff wait. */
  retryNow() {
    if (this.stopped || this.socket) return;
    this.clearTimeout(this.retryTimer);
    this.open();
  }

  /** The session is up (registered): the next loss starts the backoff anew. */
  healthy() {
    this.attempt = 0;
  }

  get isOpen() {
    return this.socket !== null && this.socket.readyState === 1;
  }

  send(line) {
    if (!this.isOpen) return false;
    this.socket.send(line);
    return true;
  }

  open() {
    this.retryTimer = null;
    this.status('connecting');
    let socket;
    try {
      socket = new this.WebSocket(this.url, SUBPROTOCOLS);
    } catch (error) {
      this.lost(String(error));
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onopen = () => {
      this.status('open');
      this.touch();
      this.handlers.onOpen?.();
    };
    socket.onmessage = (event) => {
      this.touch();
      const text = typeof event.data === 'string' ? event.data : this.decoder.decode(event.data);
      // One line per message, but a peer that sends CR LF anyway still works.
      for (const line of text.split(/\r?\n/)) if (line) this.handlers.onLine?.(line);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.lost(event.reason || (event.code === 1006 ? 'connection lost' : 'connection closed'));
    };
    socket.onerror = () => {};
  }

  lost(reason) {
    this.socket = null;
    this.clearTimeout(this.idleTimer);
    if (this.stopped) return;
    const delayMs = backoffDelay(this.attempt, this.random);
    this.attempt++;
    this.status('waiting', { delayMs, reason });
    this.retryTimer = this.setTimeout(() => this.open(), delayMs);
  }

  /** Traffic came: the link is alive. After `idleMs` of silence send a PING;
   * after as long again without any answer, drop the socket. */
  touch() {
    this.probing = false;
    this.clearTimeout(this.idleTimer);
    this.idleTimer = this.setTimeout(() => this.idle(), this.idleMs);
  }

  idle() {
    const socket = this.socket;
    if (!socket) return;
    if (this.probing) {
      this.socket = null;
      socket.close(4000, 'ping timeout');
      this.lost('ping timeout');
      return;
    }
    this.probing = true;
    this.send('PING :netkit-web');
    this.idleTimer = this.setTimeout(() => this.idle(), this.idleMs);
  }

  status(state, extra = {}) {
    this.handlers.onStatus?.({ state, attempt: this.attempt, ...extra });
  }
}
