// The chat page's IRC session logic (web/client.js, web/buffers.js), driven
// line by line as a server would, without a browser.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_MESSAGES } from '../../../web/buffers.js';
import { ChatClient, alternativeNick, completeNick, mentions } from '../../../web/client.js';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (seconds) => new Date(T0 + seconds * 1000).toISOString();

/** A client whose output is collected; `feed` plays server lines. */
function session({ nick = 'me', channels = ['#lobby'] } = {}) {
  const sent = [];
  const events = { taken: [], registered: 0 };
  const client = new ChatClient({
    nick,
    channels,
    send: (line) => sent.push(line),
    onNickTaken: (taken) => events.taken.push(taken),
    onRegistered: () => events.registered++,
    now: () => new Date(T0),
  });
  const feed = (...lines) => lines.forEach((line) => client.handleLine(line));
  const take = () => sent.splice(0);
  return { client, sent, events, feed, take };
}

/** Registered with every capability, in #lobby with history. */
function joined(options) {
  const s = session(options);
  const nick = s.client.nick;
  s.client.connected();
  s.feed(
    ':srv CAP * LS :message-tags server-time batch echo-message draft/chathistory sasl',
    ':srv CAP * ACK :message-tags server-time batch echo-message draft/chathistory',
    `:srv 001 ${nick} :Welcome`,
    `:srv 005 ${nick} CHATHISTORY=500 CASEMAPPING=rfc1459 PREFIX=(ov)@+ :are supported`,
    `@time=${at(1)};msgid=j1 :${nick}!u@h JOIN #lobby`,
    `:srv 332 ${nick} #lobby :the topic`,
    `:srv 353 ${nick} = #lobby :@alice +bob ${nick}`,
    `:srv 366 ${nick} #lobby :End of NAMES`,
  );
  s.take();
  return s;
}

const texts = (buffer) => buffer.messages.map((m) => m.text);

test('registers with CAP LS 302, asks only for offered capabilities, ends CAP after ACK', () => {
  const { client, feed, take, events } = session();
  client.connected();
  assert.deepEqual(take(), ['CAP LS 302', 'NICK me', 'USER web 0 * me']);
  feed(':srv CAP * LS * :message-tags sasl', ':srv CAP * LS :server-time batch echo-message draft/chathistory');
  assert.deepEqual(take(), ['CAP REQ :message-tags server-time batch echo-message draft/chathistory']);
  feed(':srv CAP * ACK :message-tags server-time batch echo-message draft/chathistory');
  assert.deepEqual(take(), ['CAP END']);
  feed(':srv 001 me :Welcome');
  assert.deepEqual(take(), ['JOIN #lobby']);
  assert.equal(events.registered, 1);
  assert.equal(client.historyEnabled(), true);
});

test('a server without capabilities gets CAP END and plain registration', () => {
  const { client, feed, take } = session();
  client.connected();
  take();
  feed(':srv CAP * LS :sasl');
  assert.deepEqual(take(), ['CAP END']);
  feed(':srv 001 me :Welcome');
  assert.equal(client.historyEnabled(), false);
});

test('answers PING with the same token', () => {
  const { feed, take } = session();
  feed('PING :abc def');
  assert.deepEqual(take(), ['PONG :abc def']);
});

test('joining fetches the latest history; the batch fills the buffer in order, without unread marks', () => {
  const s = session();
  s.client.connected();
  s.feed(':srv CAP * LS :message-tags server-time batch echo-message draft/chathistory', ':srv CAP * ACK :message-tags server-time batch echo-message draft/chathistory');
  s.feed(':srv 001 me :hi', ':srv 005 me CHATHISTORY=500 :are supported');
  s.take();
  s.feed(`@time=${at(10)};msgid=j :me!u@h JOIN #lobby`);
  assert.deepEqual(s.take(), ['CHATHISTORY LATEST #lobby * 50']);
  s.feed(
    ':srv BATCH +b1 chathistory #lobby',
    `@batch=b1;time=${at(1)};msgid=h1 :alice!a@h PRIVMSG #lobby :first`,
    `@batch=b1;time=${at(2)};msgid=h2 :bob!b@h PRIVMSG #lobby :\x01ACTION waves\x01`,
  );
  const lobby = s.client.find('#lobby');
  assert.deepEqual(texts(lobby), ['me joined #lobby'], 'batched lines wait for the end of the batch');
  s.feed(':srv BATCH -b1');
  assert.deepEqual(texts(lobby), ['first', 'waves', 'me joined #lobby']);
  assert.equal(lobby.messages[1].type, 'action');
  assert.equal(lobby.olderExhausted, true, 'fewer than asked for: nothing older');
  assert.equal(lobby.unread, 0);
});

test('messages are kept once per msgid when history and live lines overlap', () => {
  const s = joined();
  const lobby = s.client.find('#lobby');
  s.feed(`@time=${at(5)};msgid=m5 :alice!a@h PRIVMSG #lobby :live`);
  s.feed(':srv BATCH +b chathistory #lobby', `@batch=b;time=${at(5)};msgid=m5 :alice!a@h PRIVMSG #lobby :live`, `@batch=b;time=${at(4)};msgid=m4 :alice!a@h PRIVMSG #lobby :older`, ':srv BATCH -b');
  assert.deepEqual(texts(lobby).filter((t) => t === 'live' || t === 'older'), ['older', 'live']);
});

test('lines of the same millisecond keep their order, live and from older pages', () => {
  const s = joined();
  const lobby = s.client.find('#lobby');
  const latest = Array.from({ length: 50 }, (_, i) => `@batch=l;time=${at(50)};msgid=n${i + 3} :bob!b@h PRIVMSG #lobby :${i + 3}`);
  s.feed(':srv BATCH +l chathistory #lobby', ...latest, ':srv BATCH -l');
  s.feed(`@time=${at(50)};msgid=n53 :bob!b@h PRIVMSG #lobby :53`, `@time=${at(50)};msgid=n54 :bob!b@h PRIVMSG #lobby :54`);
  assert.equal(s.client.loadOlder(lobby), true);
  s.feed(':srv BATCH +o chathistory #lobby', `@batch=o;time=${at(50)};msgid=n1 :bob!b@h PRIVMSG #lobby :1`, `@batch=o;time=${at(50)};msgid=n2 :bob!b@h PRIVMSG #lobby :2`, ':srv BATCH -o');
  const numbers = lobby.messages.filter((m) => m.type === 'privmsg').map((m) => Number(m.text));
  assert.deepEqual(numbers, Array.from({ length: 54 }, (_, i) => i + 1));
});

test('own lines come back through echo-message with their msgid, and are not sent twice', () => {
  const s = joined();
  assert.equal(s.client.input('hello <b>world</b>', s.client.find('#lobby')), null);
  assert.deepEqual(s.take(), ['PRIVMSG #lobby :hello <b>world</b>']);
  const lobby = s.client.find('#lobby');
  assert.equal(texts(lobby).includes('hello <b>world</b>'), false, 'shown only once the server echoes it');
  s.feed(`@time=${at(6)};msgid=e1 :me!u@h PRIVMSG #lobby :hello <b>world</b>`);
  const mine = lobby.messages.at(-1);
  assert.equal(mine.text, 'hello <b>world</b>');
  assert.equal(mine.self, true);
  assert.equal(mine.msgid, 'e1');
  assert.equal(mine.time.toISOString(), at(6));
});

test('scrolling up asks for the page before the oldest chat line, once at a time', () => {
  const s = joined();
  const lobby = s.client.find('#lobby');
  s.feed(`@time=${at(7)};msgid=m7 :alice!a@h PRIVMSG #lobby :seven`);
  assert.equal(s.client.loadOlder(lobby), true);
  assert.deepEqual(s.take(), ['CHATHISTORY BEFORE #lobby msgid=m7 50']);
  assert.equal(s.client.loadOlder(lobby), false, 'one request at a time');
  const page = Array.from({ length: 50 }, (_, i) => `@batch=p;time=${at(-100 + i)};msgid=o${i} :bob!b@h PRIVMSG #lobby :old ${i}`);
  s.feed(':srv BATCH +p chathistory #lobby', ...page, ':srv BATCH -p');
  assert.equal(lobby.messages[0].text, 'old 0');
  assert.equal(lobby.olderExhausted, false, 'a full page: there may be more');
  assert.equal(s.client.loadOlder(lobby), true);
  assert.deepEqual(s.take(), ['CHATHISTORY BEFORE #lobby msgid=o0 50']);
});

test('after a reconnect it rejoins and asks for what came after the last chat line it saw', () => {
  const s = joined();
  s.feed(`@time=${at(8)};msgid=m8 :alice!a@h PRIVMSG #lobby :before the restart`, `@time=${at(9)};msgid=q9 :alice!a@h QUIT :bye`);
  s.client.disconnected('server restart');
  const lobby = s.client.find('#lobby');
  assert.equal(lobby.joined, false);
  s.client.connected();
  s.feed(':srv CAP * LS :message-tags server-time batch echo-message draft/chathistory', ':srv CAP * ACK :message-tags server-time batch echo-message draft/chathistory', ':srv 001 me :Welcome back', ':srv 005 me CHATHISTORY=2 :are supported');
  assert.deepEqual(s.take().slice(-1), ['JOIN #lobby']);
  s.client.setActive(s.client.server);
  const unreadBefore = lobby.unread;
  s.feed(`@time=${at(20)};msgid=j2 :me!u@h JOIN #lobby`);
  assert.deepEqual(s.take(), ['CHATHISTORY AFTER #lobby msgid=m8 2'], 'the quit line is not a history anchor');
  s.feed(':srv BATCH +a chathistory #lobby', `@batch=a;time=${at(11)};msgid=m11 :bob!b@h PRIVMSG #lobby :missed one`, `@batch=a;time=${at(12)};msgid=m12 :bob!b@h PRIVMSG #lobby :missed two`, ':srv BATCH -a');
  assert.deepEqual(s.take(), ['CHATHISTORY AFTER #lobby msgid=m12 2'], 'a full page: ask for the rest');
  s.feed(':srv BATCH +c chathistory #lobby', `@batch=c;time=${at(13)};msgid=m13 :bob!b@h PRIVMSG #lobby :missed three`, ':srv BATCH -c');
  assert.deepEqual(s.take(), []);
  assert.equal(lobby.unread - unreadBefore, 3, 'missed lines count as unread in a buffer not shown');
  const order = texts(lobby).filter((t) => t.startsWith('missed') || t === 'before the restart');
  assert.deepEqual(order, ['before the restart', 'missed one', 'missed two', 'missed three']);
});

test('a channel that had no chat lines asks for the latest after a reconnect', () => {
  const s = session();
  s.client.connected();
  s.feed(':srv CAP * ACK :message-tags server-time batch draft/chathistory', ':srv 001 me :hi', `@msgid=j1 :me!u@h JOIN #lobby`);
  s.take();
  s.client.disconnected();
  s.client.connected();
  s.feed(':srv CAP * ACK :message-tags server-time batch draft/chathistory', ':srv 001 me :hi', `@msgid=j2 :me!u@h JOIN #lobby`);
  assert.deepEqual(s.take().slice(-1), ['CHATHISTORY LATEST #lobby * 50']);
});

test('the member list follows joins, parts, quits, kicks, nick changes and modes', () => {
  const s = joined();
  const lobby = s.client.find('#lobby');
  const members = () => lobby.sortedMembers().map((m) => m.prefix + m.nick);
  assert.deepEqual(members(), ['@alice', '+bob', 'me']);
  s.feed(':carol!c@h JOIN #lobby');
  s.feed(':bob!b@h NICK robert');
  s.feed(':alice!a@h MODE #lobby +v-o carol alice');
  assert.deepEqual(members(), ['+carol', '+robert', 'alice', 'me']);
  s.feed(':carol!c@h PART #lobby :later', ':robert!b@h QUIT :gone');
  assert.deepEqual(members(), ['alice', 'me']);
  s.feed(':alice!a@h KICK #lobby me :out');
  assert.equal(lobby.joined, false);
  assert.deepEqual(texts(lobby).slice(-6), [
    'carol joined #lobby',
    'bob is now known as robert',
    'alice sets mode +v-o carol alice',
    'carol left #lobby (later)',
    'robert quit (gone)',
    'me was kicked by alice (out)',
  ]);
});

test('topics come from the join reply and from TOPIC', () => {
  const s = joined();
  const lobby = s.client.find('#lobby');
  assert.equal(lobby.topic, 'the topic');
  s.feed(':alice!a@h TOPIC #lobby :a new topic');
  assert.equal(lobby.topic, 'a new topic');
  assert.equal(lobby.messages.at(-1).text, 'alice set the topic: a new topic');
});

test('private messages open a query buffer; unread and mentions mark other buffers', () => {
  const s = joined();
  const lobby = s.client.find('#lobby');
  s.client.setActive(lobby);
  s.feed(':alice!a@h PRIVMSG me :psst');
  const query = s.client.find('alice');
  assert.equal(query.kind, 'query');
  assert.deepEqual(texts(query), ['psst']);
  assert.equal(query.unread, 1);
  assert.equal(query.mention, true);
  s.client.setActive(query);
  assert.equal(query.unread, 0);
  s.feed(':bob!b@h PRIVMSG #lobby :hi all', ':bob!b@h PRIVMSG #lobby :hey me, look');
  assert.equal(lobby.unread, 2);
  assert.equal(lobby.mention, true);
  assert.equal(lobby.messages.at(-1).highlight, true);
  s.feed(`@msgid=e :me!u@h PRIVMSG alice :answer`);
  assert.deepEqual(texts(query), ['psst', 'answer'], 'an echoed private line goes to the query with its target');
});

test('a nick change of a query partner renames the query', () => {
  const s = joined();
  s.feed(':alice!a@h PRIVMSG me :hi', ':alice!a@h NICK alicia');
  assert.equal(s.client.find('alice'), null);
  assert.deepEqual(texts(s.client.find('alicia')), ['hi', 'alice is now known as alicia']);
});

test('a taken nick before registration is reported with an alternative, and the choice is sent', () => {
  const s = session({ nick: 'alice' });
  s.client.connected();
  s.take();
  s.feed(':srv 433 * alice :Nickname is already in use');
  assert.deepEqual(s.events.taken, [{ nick: 'alice', suggestion: 'alice_', why: 'is already in use' }]);
  assert.deepEqual(s.take(), [], 'the user chooses');
  s.client.setNick('alice_');
  assert.deepEqual(s.take(), ['NICK alice_']);
  s.feed(':srv 001 alice_ :Welcome');
  assert.equal(s.client.nick, 'alice_');
});

test('a taken nick when coming back after a reconnect picks the alternative by itself', () => {
  const s = joined({ nick: 'alice' });
  s.client.disconnected();
  s.client.connected();
  s.take();
  s.feed(':srv 433 * alice :Nickname is already in use');
  assert.deepEqual(s.take(), ['NICK alice_']);
  assert.deepEqual(s.events.taken, []);
});

test('typed commands', () => {
  const s = joined();
  const lobby = s.client.find('#lobby');
  s.client.input('/me waves', lobby);
  s.client.input('/msg bob hi there', lobby);
  s.client.input('/join #dev', lobby);
  s.client.input('/topic new topic', lobby);
  s.client.input('/nick meme', lobby);
  s.client.input('//not a command', lobby);
  assert.deepEqual(s.take(), ['PRIVMSG #lobby :\x01ACTION waves\x01', 'PRIVMSG bob :hi there', 'JOIN #dev', 'TOPIC #lobby :new topic', 'NICK meme', 'PRIVMSG #lobby :/not a command']);
  assert.match(s.client.input('/bogus', lobby), /Unknown command/);
  assert.match(s.client.input('/quote PRIVMSG #x :a\r\nQUIT', lobby), /CR, LF or NUL/);
  assert.match(s.client.input('two\nlines', lobby), /CR, LF or NUL/);
  assert.deepEqual(s.take(), []);
});

test('a parted channel buffer closes when the server confirms', () => {
  const s = joined();
  const lobby = s.client.find('#lobby');
  s.client.close(lobby);
  assert.deepEqual(s.take(), ['PART #lobby']);
  assert.ok(s.client.find('#lobby'));
  s.feed(':me!u@h PART #lobby');
  assert.equal(s.client.find('#lobby'), null);
  assert.deepEqual(s.client.wantedChannels, []);
});

test('a buffer holds a bounded number of lines', () => {
  const s = joined();
  const lobby = s.client.find('#lobby');
  for (let i = 0; i < MAX_MESSAGES + 10; i++) s.feed(`@time=${at(100 + i)};msgid=x${i} :bob!b@h PRIVMSG #lobby :${i}`);
  assert.equal(lobby.messages.length, MAX_MESSAGES);
  assert.equal(lobby.messages.at(-1).text, String(MAX_MESSAGES + 9));
  assert.equal(lobby.canLoadOlder(), false);
});

test('mentions and alternative nicks', () => {
  assert.equal(mentions('hey alice!', 'alice'), true);
  assert.equal(mentions('ALICE: hi', 'alice'), true);
  assert.equal(mentions('malice', 'alice'), false);
  assert.equal(mentions('alice_ hi', 'alice'), false);
  assert.equal(mentions('[x] hi', '[x]'), true);
  assert.equal(alternativeNick('bob'), 'bob_');
  assert.equal(alternativeNick('abcd', 4), 'abc_');
});

test('Tab completes nicks, and cycles through the matches', () => {
  const nicks = ['alice', 'Albert', 'bob'];
  const first = completeNick('al', 2, nicks);
  assert.equal(first.text, 'Albert: ', 'matches in alphabetical order, any case');
  const second = completeNick(first.text, first.cursor, nicks, first);
  assert.equal(second.text, 'alice: ');
  const third = completeNick(second.text, second.cursor, nicks, second);
  assert.equal(third.text, 'Albert: ', 'round again');
  const middle = completeNick('hi BO and more', 5, nicks);
  assert.deepEqual([middle.text, middle.cursor], ['hi bob  and more', 7]);
  assert.equal(completeNick('hi zed', 6, nicks), null);
  assert.equal(completeNick('hi ', 3, nicks), null);
  const typedSince = completeNick('Albert: x', 9, nicks, first);
  assert.equal(typedSince, null, 'typing since the last Tab starts a new completion');
});
