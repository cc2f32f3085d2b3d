// End-to-end test of the chat page in a real browser: the real netkit binary
// (NETKIT_BIN), Debian's chromium driven by playwright-core, two browser pages
// and a raw IRC client over TCP in one channel. Checks live delivery both
// ways, history for a late joiner, that markup sent over IRC stays text, a
// taken nickname, and that after a server restart the page reconnects and
// shows what was said while it was away. Saves screenshots under
// target/browser/. Every wait is bounded; processes are ended on any outcome.
//
//   NETKIT_BIN=target/debug/netkit node tests/browser/e2e.mjs

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.NETKIT_BIN ?? path.join(ROOT, 'target/debug/netkit');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const OUT = process.env.NETKIT_BROWSER_OUT ?? path.join(ROOT, 'target/browser');
const DEADLINE_MS = 120_000;
const WAIT_MS = 5_000;
// The page's backoff starts at 0.5 s and doubles; after a restart it is back
// within a few attempts.
const RECONNECT_MS = 15_000;

const cleanups = [];
const views = new Map(); // name -> page, for screenshots when a step fails
const servers = [];
let passed = 0;

function step(name) {
  passed++;
  console.log(`ok ${passed} - ${name}`);
}

/** Rejects after `ms` with a message naming what was awaited. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ----- the server -----

/** Starts `netkit chat serve` and reads its ready lines. */
async function startServer({ irc = '127.0.0.1:0', http = '127.0.0.1:0', db }) {
  const child = spawn(BIN, ['chat', 'serve', '--irc', irc, '--http', http, '--db', db], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = [];
  child.stderr.on('data', (chunk) => {
    stderr.push(chunk.toString());
    if (stderr.length > 200) stderr.shift();
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const server = { child, exited, stderr, addresses: {} };
  servers.push(server);
  cleanups.push(() => stopServer(server));
  const lines = readline.createInterface({ input: child.stdout });
  await within(
    10_000,
    `the ready lines of ${BIN}`,
    new Promise((resolve, reject) => {
      lines.on('line', (line) => {
        const match = /^listening (irc|http) (\S+)$/.exec(line);
        if (match) server.addresses[match[1]] = match[2];
        if (server.addresses.irc && server.addresses.http) resolve();
      });
      exited.then(({ code, signal }) => reject(new Error(`netkit exited (${code ?? signal}) before it was ready:\n${stderr.join('')}`)));
    }),
  );
  return server;
}

/** SIGTERM, then SIGKILL if it does not end in time. */
async function stopServer(server) {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return server.exited;
  server.child.kill('SIGTERM');
  try {
    return await within(10_000, 'netkit to exit after SIGTERM', server.exited);
  } catch (error) {
    server.child.kill('SIGKILL');
    throw error;
  }
}

// ----- a raw IRC client over TCP -----

class IrcClient {
  static async connect(address, nick) {
    const [host, port] = address.split(/:(?=\d+$)/);
    const socket = net.connect(Number(port), host);
    const client = new IrcClient(socket, nick);
    cleanups.push(() => socket.destroy());
    await within(WAIT_MS, `TCP connect to ${address}`, new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }));
    client.send(`NICK ${nick}`);
    client.send(`USER ${nick} 0 * :raw IRC client`);
    await client.expect((m) => m.command === '001', 'the 001 welcome');
    return client;
  }

  constructor(socket, nick) {
    this.socket = socket;
    this.nick = nick;
    this.received = [];
    this.waiters = new Set();
    this.pings = 0;
    readline.createInterface({ input: socket }).on('line', (line) => {
      const [, source = '', command = '', rest = ''] = /^(?::(\S+) )?(\S+) ?(.*)$/.exec(line) ?? [];
      const trailing = rest.indexOf(' :');
      const params = rest.startsWith(':')
        ? [rest.slice(1)]
        : trailing >= 0
          ? [...rest.slice(0, trailing).split(' '), rest.slice(trailing + 2)]
          : rest.split(' ').filter(Boolean);
      const message = { line, source, command, params };
      if (command === 'PING') this.send(`PONG :${params[0] ?? ''}`);
      this.received.push(message);
      for (const waiter of this.waiters) waiter(message);
    });
  }

  send(line) {
    this.socket.write(`${line}\r\n`);
  }

  /** Waits for a line (already received, or to come) that matches. */
  expect(predicate, what, ms = WAIT_MS) {
    const found = this.received.find(predicate);
    if (found) return Promise.resolve(found);
    let waiter;
    return within(
      ms,
      `${this.nick} to receive ${what}`,
      new Promise((resolve) => {
        waiter = (message) => predicate(message) && resolve(message);
        this.waiters.add(waiter);
      }),
    ).finally(() => this.waiters.delete(waiter));
  }

  async join(channel) {
    this.send(`JOIN ${channel}`);
    await this.expect((m) => m.command === '366' && m.params[1] === channel, `the end of NAMES for ${channel}`);
  }

  /** Sends a message and returns once the server has handled it (a PONG to
   * a later PING: replies come in the order the commands arrived). */
  async say(target, text, ms = WAIT_MS) {
    const token = `sync-${++this.pings}`;
    this.send(`PRIVMSG ${target} :${text}`);
    this.send(`PING ${token}`);
    await this.expect((m) => m.command === 'PONG' && m.params.includes(token), `PONG ${token}`, ms);
  }

  heard(target, text) {
    return this.expect(
      (m) => m.command === 'PRIVMSG' && m.params[0] === target && m.params[1] === text,
      `"${text}" in ${target}`,
    );
  }
}

// ----- the browser -----

/** A page in its own browser context (own storage), watched for script
 * dialogs, uncaught errors and CSP violations. */
async function openPage(browser, url, { viewport = { width: 1100, height: 700 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const problems = { dialogs: [], errors: [], csp: [] };
  page.on('dialog', (dialog) => {
    problems.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => problems.errors.push(String(error)));
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) problems.csp.push(message.text());
  });
  await page.goto(url);
  return { page, context, problems };
}

async function login({ page }, nick, channels = '#lobby') {
  views.set(nick, page);
  await page.fill('#login-nick', nick);
  await page.fill('#login-channels', channels);
  await page.click('#login-submit');
}

/** Waits until the shown buffer has a chat line with exactly this text. */
async function seesLine({ page }, text, ms = WAIT_MS) {
  await page.waitForFunction(
    (wanted) => [...document.querySelectorAll('#messages .msg .text')].some((node) => node.textContent === wanted),
    text,
    { timeout: ms },
  );
}

async function countLines({ page }, text) {
  return page.evaluate(
    (wanted) => [...document.querySelectorAll('#messages .msg .text')].filter((node) => node.textContent === wanted).length,
    text,
  );
}

async function seesMember({ page }, nick, ms = WAIT_MS) {
  await page.waitForFunction(
    (wanted) => [...document.querySelectorAll('#member-list .member')].some((node) => node.dataset.nick === wanted),
    nick,
    { timeout: ms },
  );
}

async function gone({ page }, nick, ms = WAIT_MS) {
  await page.waitForFunction(
    (wanted) => ![...document.querySelectorAll('#member-list .member')].some((node) => node.dataset.nick === wanted),
    nick,
    { timeout: ms },
  );
}

async function inChannel(view, channel) {
  await view.page.waitForSelector('#chat:not([hidden])');
  await view.page.waitForFunction((name) => document.getElementById('title').textContent === name, channel);
}

async function type({ page }, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

// ----- the scenario -----

async function scenario() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'netkit-browser-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'chat.db');
  mkdirSync(OUT, { recursive: true });
  for (const name of readdirSync(OUT)) if (name.startsWith('failure-')) rmSync(path.join(OUT, name));

  let server = await startServer({ db });
  const { irc: ircAddress, http: httpAddress } = server.addresses;
  const url = `http://${httpAddress}/`;
  step(`netkit serves IRC on ${ircAddress} and HTTP on ${httpAddress}`);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  cleanups.push(() => browser.close());

  // Alice in the browser, Carol on raw IRC.
  const alice = await openPage(browser, url);
  await login(alice, 'alice');
  await inChannel(alice, '#lobby');
  await seesMember(alice, 'alice');
  step('the page registers over WebSocket and joins #lobby');

  const carol = await IrcClient.connect(ircAddress, 'carol');
  await carol.join('#lobby');
  await seesMember(alice, 'carol');
  step('a raw IRC client joining shows in the page\'s member list');

  await type(alice, 'hello from the browser');
  await carol.heard('#lobby', 'hello from the browser');
  await seesLine(alice, 'hello from the browser');
  assert((await countLines(alice, 'hello from the browser')) === 1, 'own line shown once (echo-message)');
  await carol.say('#lobby', 'hi alice, carol here on IRC');
  await seesLine(alice, 'hi alice, carol here on IRC');
  step('browser and IRC client see each other\'s lines');

  // Bob comes later and gets the history.
  const bob = await openPage(browser, url);
  await login(bob, 'bob');
  await inChannel(bob, '#lobby');
  await seesLine(bob, 'hello from the browser');
  await seesLine(bob, 'hi alice, carol here on IRC');
  await seesMember(alice, 'bob');
  // The line alice saw live (echoed) and bob got from history is one message:
  // the same msgid and the same server time.
  const stamp = ({ page }) =>
    page.evaluate(() => {
      const line = [...document.querySelectorAll('#messages .msg')].find(
        (node) => node.querySelector('.text')?.textContent === 'hello from the browser',
      );
      return { msgid: line.dataset.msgid, time: line.querySelector('time').dateTime };
    });
  const [live, history] = [await stamp(alice), await stamp(bob)];
  assert(live.msgid && live.msgid === history.msgid, `one msgid live and in history: ${JSON.stringify([live, history])}`);
  assert(live.time === history.time && Math.abs(Date.parse(live.time) - Date.now()) < 60_000, `server time shown: ${live.time}`);
  step('a late joiner sees the channel history (same msgid and server time); the others see it join');

  await type(bob, 'bob says hi to both');
  await seesLine(alice, 'bob says hi to both');
  await carol.heard('#lobby', 'bob says hi to both');
  await bob.page.fill('#input', 'ca');
  await bob.page.press('#input', 'Tab');
  assert((await bob.page.inputValue('#input')) === 'carol: ', 'Tab completes a member\'s nick');
  await bob.page.press('#input', 'End');
  await bob.page.keyboard.type('completed with Tab');
  await bob.page.press('#input', 'Enter');
  await carol.heard('#lobby', 'carol: completed with Tab');
  step('a second page\'s lines reach the first page and the IRC client; Tab completes nicks');

  // Markup from IRC is text, and runs nothing.
  const payload = '<img src=x onerror=alert(1)>';
  const scriptPayload = '<script>alert(2)</script><b>bold?</b>';
  await carol.say('#lobby', payload);
  await carol.say('#lobby', scriptPayload);
  for (const view of [alice, bob]) {
    await seesLine(view, payload);
    await seesLine(view, scriptPayload);
    const elements = await view.page.evaluate(() => document.querySelectorAll('#messages img, #messages script, #messages b').length);
    assert(elements === 0, `no element made from message text (found ${elements})`);
  }
  step('markup sent over IRC shows verbatim as text');

  // Private messages and unread marks.
  carol.send('PRIVMSG alice :a private word');
  await alice.page.waitForSelector('#buffer-list .buffer.unread.mention[data-buffer="carol"]');
  await alice.page.waitForFunction(() => document.title.startsWith('(1) '));
  await alice.page.click('#buffer-list [data-buffer="carol"] .buffer-name');
  await seesLine(alice, 'a private word');
  await type(alice, 'a private answer');
  await carol.expect((m) => m.command === 'PRIVMSG' && m.params[0] === 'carol' && m.params[1] === 'a private answer', 'the private answer');
  await carol.say('#lobby', 'while alice reads her private messages');
  await alice.page.waitForSelector('#buffer-list .buffer.unread[data-buffer="#lobby"] .badge');
  await alice.page.click('#buffer-list [data-buffer="#lobby"] .buffer-name');
  await seesLine(alice, 'while alice reads her private messages');
  await alice.page.waitForSelector('#buffer-list .buffer[data-buffer="#lobby"]:not(.unread)');
  step('private messages open a conversation; other buffers get unread marks');

  // A taken nickname.
  const late = await openPage(browser, url);
  await login(late, 'alice');
  await late.page.waitForFunction(() => /alice.*already in use/.test(document.getElementById('login-message').textContent));
  assert((await late.page.inputValue('#login-nick')) === 'alice_', 'the alternative is offered in the nick field');
  await late.page.screenshot({ path: path.join(OUT, 'nick-taken.png') });
  await late.page.click('#login-submit');
  await inChannel(late, '#lobby');
  await seesMember(alice, 'alice_');
  await late.context.close();
  await gone(alice, 'alice_');
  step('a taken nickname is reported and the offered alternative works; its quit shows');

  // Topics and nick changes, live.
  const topic = 'Welcome to <b>#lobby</b> & friends';
  await type(alice, `/topic ${topic}`);
  for (const view of [alice, bob]) {
    await view.page.waitForFunction((wanted) => document.getElementById('topic').textContent === wanted, topic);
  }
  await carol.expect((m) => m.command === 'TOPIC' && m.params[1] === topic, 'the new topic');
  carol.send('NICK caroline');
  await seesMember(bob, 'caroline');
  await gone(bob, 'carol');
  await seesLine(bob, 'carol is now known as caroline');
  await alice.page.waitForSelector('#buffer-list [data-buffer="caroline"]');
  carol.send('NICK carol');
  await seesMember(bob, 'carol');
  await alice.page.waitForSelector('#buffer-list [data-buffer="carol"]');
  assert((await alice.page.$('#buffer-list [data-buffer="caroline"]')) === null, 'the private conversation follows the nick');
  step('topic changes and nick changes show live, in the member list and the conversations');

  // A long channel: the last page on join, older ones when scrolled up.
  await carol.join('#archive');
  const archive = Array.from({ length: 60 }, (_, i) => `archive line ${i + 1}`);
  // One write; the server's flood control paces them (burst 20, then 5/s).
  carol.send(archive.map((text) => `PRIVMSG #archive :${text}`).join('\r\n'));
  await carol.say('#archive', 'archive end', 20_000);
  await type(alice, '/join #archive');
  await inChannel(alice, '#archive');
  await seesLine(alice, 'archive end');
  await seesLine(alice, 'archive line 12');
  assert((await countLines(alice, 'archive line 11')) === 0, 'only the last page (50 lines) on join');
  await alice.page.waitForFunction(() => document.querySelector('.history-marker').textContent.includes('Scroll up'));
  await alice.page.evaluate(() => {
    document.getElementById('messages').scrollTop = 0;
  });
  await seesLine(alice, 'archive line 1');
  await alice.page.waitForFunction(() => document.querySelector('.history-marker').textContent.includes('Beginning'));
  const shown = await alice.page.evaluate(() =>
    [...document.querySelectorAll('#messages .msg-privmsg .text')].map((node) => node.textContent).filter((text) => text.startsWith('archive line')),
  );
  assert(JSON.stringify(shown) === JSON.stringify(archive), `all 60 archive lines once, in order (got ${shown.length})`);
  await alice.page.click('#buffer-list [data-buffer="#lobby"] .buffer-name');
  await inChannel(alice, '#lobby');
  step('a channel shows its last page on join and older pages when scrolled up');

  await alice.page.screenshot({ path: path.join(OUT, 'chat.png') });
  const phone = await openPage(browser, url, { viewport: { width: 390, height: 760 } });
  await login(phone, 'dave');
  await inChannel(phone, '#lobby');
  await seesLine(phone, 'bob says hi to both');
  assert((await phone.page.textContent('#topic')) === topic, 'a joiner sees the topic');
  await phone.page.screenshot({ path: path.join(OUT, 'chat-phone.png') });
  await phone.page.click('#members-toggle');
  await seesMember(phone, 'carol');
  await phone.page.screenshot({ path: path.join(OUT, 'chat-phone-members.png') });
  await phone.page.click('#messages', { position: { x: 30, y: 200 } }); // beside the panel
  await phone.page.waitForSelector('#members', { state: 'hidden' });
  await phone.page.click('#sidebar-toggle');
  await phone.page.waitForSelector('#sidebar', { state: 'visible' });
  await phone.page.screenshot({ path: path.join(OUT, 'chat-phone-sidebar.png') });
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, `nothing wider than a phone screen (overflow ${overflow}px)`);
  await phone.context.close();
  step(`screenshots saved in ${OUT}`);

  // The server restarts; what is said while the pages are away shows up.
  await stopServer(server);
  await alice.page.waitForSelector('#status[data-state="waiting"]', { timeout: WAIT_MS });
  carol.socket.destroy();
  // Offline, the pages cannot reconnect before the missed lines are sent.
  await alice.context.setOffline(true);
  server = await startServer({ irc: ircAddress, http: httpAddress, db });
  const carol2 = await IrcClient.connect(ircAddress, 'carol');
  await carol2.join('#lobby');
  await carol2.say('#lobby', 'said while the page was away');
  // "Retry now" while offline: the attempt fails, so the line above cannot
  // have reached the page live.
  await alice.page.waitForSelector('#status[data-state="waiting"] #retry');
  await alice.page.click('#retry');
  await alice.page.waitForSelector('#status[data-state="waiting"]');
  const state = await alice.page.getAttribute('#status', 'data-state');
  assert(state === 'waiting', `alice's page stayed away until the line was sent (state ${state})`);
  await alice.context.setOffline(false);
  await seesLine(alice, 'said while the page was away', RECONNECT_MS);
  await alice.page.waitForSelector('#status', { state: 'hidden' });
  await seesLine(bob, 'said while the page was away', RECONNECT_MS);
  step('after a restart the pages reconnect and show the lines they missed');

  for (const text of ['hello from the browser', 'bob says hi to both', 'said while the page was away']) {
    assert((await countLines(alice, text)) === 1, `"${text}" shown once after the reconnect`);
  }
  await seesMember(alice, 'carol');
  await seesMember(alice, 'bob', RECONNECT_MS);
  await type(alice, 'back again');
  await carol2.heard('#lobby', 'back again');
  await seesLine(bob, 'back again');
  step('after the reconnect nothing is doubled, members are back, and sending works');

  for (const [name, view] of [['alice', alice], ['bob', bob]]) {
    const { dialogs, errors, csp } = view.problems;
    assert(dialogs.length === 0, `no dialog opened in ${name}'s page: ${dialogs.join('; ')}`);
    assert(errors.length === 0, `no script error in ${name}'s page: ${errors.join('; ')}`);
    assert(csp.length === 0, `no CSP violation in ${name}'s page: ${csp.join('; ')}`);
  }
  step('no dialog, script error or CSP violation in any page');

  await alice.page.screenshot({ path: path.join(OUT, 'chat-after-restart.png') });
}

async function cleanup() {
  for (const fn of cleanups.reverse()) {
    try {
      await within(10_000, 'cleanup', Promise.resolve().then(fn));
    } catch (error) {
      console.error(`cleanup: ${error.message}`);
    }
  }
}

const deadline = setTimeout(async () => {
  console.error(`e2e: overall deadline of ${DEADLINE_MS / 1000}s passed`);
  await cleanup();
  process.exit(1);
}, DEADLINE_MS);

let failed = 0;
try {
  await scenario();
} catch (error) {
  failed = 1;
  console.error(`not ok ${passed + 1} - ${error.stack ?? error}`);
  for (const [name, page] of views) {
    await within(WAIT_MS, 'a failure screenshot', page.screenshot({ path: path.join(OUT, `failure-${name}.png`) })).catch(() => {});
  }
  for (const server of servers) console.error(`netkit stderr (last lines):\n${server.stderr.join('').split('\n').slice(-30).join('\n')}`);
}
await cleanup();
clearTimeout(deadline);
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
