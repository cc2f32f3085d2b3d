// The chat page's WebSocket connection (web/connection.js): subprotocol,
// one IRC line per message, reconnect with backoff, probing a silent link.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BACKOFF, Connection, backoffDelay, defaultUrl } from '../../../web/connection.js';

/** Timers run by hand: `advance(ms)` fires what is due, in order. */
function fakeClock() {
  let now = 0;
  let next = 1;
  const timers = new Map();
  return {
    setTimeout: (fn, ms) => {
      timers.set(next, { at: now + ms, fn });
      return next++;
    },
    clearTimeout: (id) => timers.delete(id),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = end;
    },
  };
}

/** A WebSocket stand-in that records what the page does with it. */
function fakeSockets() {
  const made = [];
  class FakeSocket {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      this.sent = [];
      this.closed = null;
      made.push(this);
    }
    send(data) {
      this.sent.push(data);
    }
    close(code, reason) {
      this.closed = { code, reason };
      this.readyState = 3;
    }
    // What the server side does:
    accept() {
      this.readyState = 1;
      this.onopen?.();
    }
    deliver(data) {
      this.onmessage?.({ data });
    }
    drop(code = 1006, reason = '') {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
  }
  return { FakeSocket, made };
}

function setup(extra = {}) {
  const clock = fakeClock();
  const { FakeSocket, made } = fakeSockets();
  const log = { lines: [], statuses: [], opens: 0 };
  const connection = new Connection(
    'ws://127.0.0.1:8080/ws',
    {
      onOpen: () => log.opens++,
      onLine: (line) => log.lines.push(line),
      onStatus: (status) => log.statuses.push(status),
    },
    { WebSocket: FakeSocket, random: () => 0.5, ...clock, ...extra },
  );
  return { clock, made, log, connection };
}

test('backoff doubles from the base up to the cap, spread by the jitter', () => {
  const mid = () => 0.5;
  assert.deepEqual([0, 1, 2, 3].map((n) => backoffDelay(n, mid)), [500, 1000, 2000, 4000]);
  assert.equal(backoffDelay(20, mid), BACKOFF.maxMs);
  assert.equal(backoffDelay(0, () => 0), 400);
  assert.equal(backoffDelay(0, () => 1), 600);
});

test('the address is /ws on the page\'s own host, wss for https', () => {
  assert.equal(defaultUrl({ protocol: 'http:', host: '127.0.0.1:8080' }), 'ws://127.0.0.1:8080/ws');
  assert.equal(defaultUrl({ protocol: 'https:', host: 'chat.example:443' }), 'wss://chat.example:443/ws');
});

test('opens with the text.ircv3.net subprotocol and passes each message on as a line', () => {
  const { made, log, connection } = setup();
  connection.start();
  assert.equal(made.length, 1);
  assert.deepEqual(made[0].protocols, ['text.ircv3.net']);
  assert.equal(connection.send('NICK x'), false, 'nothing is sent before the socket is open');
  made[0].accept();
  assert.equal(log.opens, 1);
  assert.equal(connection.send('NICK x'), true);
  assert.deepEqual(made[0].sent, ['NICK x']);
  made[0].deliver(':srv 001 x :Welcome');
  made[0].deliver(new TextEncoder().encode('PING :binary frame').buffer);
  made[0].deliver('A\r\nB\r\n');
  assert.deepEqual(log.lines, [':srv 001 x :Welcome', 'PING :binary frame', 'A', 'B']);
});

test('reconnects after a loss with growing waits, and starts over once healthy', () => {
  const { clock, made, log, connection } = setup();
  connection.start();
  made[0].accept();
  made[0].drop(1001, 'server shutting down');
  assert.deepEqual(log.statuses.at(-1), { state: 'waiting', attempt: 1, delayMs: 500, reason: 'server shutting down' });
  clock.advance(499);
  assert.equal(made.length, 1);
  clock.advance(1);
  assert.equal(made.length, 2, 'first retry after 500 ms');
  made[1].drop();
  clock.advance(999);
  assert.equal(made.length, 2);
  clock.advance(1);
  assert.equal(made.length, 3, 'second retry after 1000 ms');
  made[2].accept();
  connection.healthy();
  made[2].drop();
  clock.advance(500);
  assert.equal(made.length, 4, 'a healthy session resets the backoff');
});

test('retryNow skips the wait; stop ends reconnecting', () => {
  const { clock, made, connection } = setup();
  connection.start();
  made[0].drop();
  connection.retryNow();
  assert.equal(made.length, 2);
  made[1].accept();
  connection.stop();
  assert.equal(made[1].closed.code, 1000);
  clock.advance(60000);
  assert.equal(made.length, 2);
});

test('a silent link is probed with PING and dropped when the probe goes unanswered', () => {
  const { clock, made, log, connection } = setup({ idleMs: 1000 });
  connection.start();
  made[0].accept();
  clock.advance(1000);
  assert.deepEqual(made[0].sent, ['PING :netkit-web']);
  made[0].deliver(':srv PONG srv :netkit-web');
  clock.advance(1000);
  assert.equal(made[0].sent.length, 2, 'an answer restarts the idle wait');
  clock.advance(1000);
  assert.equal(made[0].closed.reason, 'ping timeout');
  assert.equal(log.statuses.at(-1).state, 'waiting');
  clock.advance(500);
  assert.equal(made.length, 2);
});
