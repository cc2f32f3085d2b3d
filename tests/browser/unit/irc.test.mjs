// The IRC line parser and serializer of the chat page (web/irc.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  command,
  escapeTagValue,
  foldCase,
  formatLine,
  parseAction,
  parseIsupport,
  parseLine,
  parsePrefix,
  parseSource,
  unescapeTagValue,
} from '../../../web/irc.js';

test('parses tags, source, command and a trailing parameter', () => {
  const message = parseLine('@time=2026-01-02T03:04:05.678Z;msgid=abc;+draft/x :alice!a@host PRIVMSG #lobby :hello there');
  assert.deepEqual(message, {
    tags: { time: '2026-01-02T03:04:05.678Z', msgid: 'abc', '+draft/x': '' },
    source: 'alice!a@host',
    command: 'PRIVMSG',
    params: ['#lobby', 'hello there'],
  });
});

test('parses lines without tags or source, extra spaces and an empty trailing parameter', () => {
  assert.deepEqual(parseLine('ping  :'), { tags: {}, source: null, command: 'PING', params: [''] });
  assert.deepEqual(parseLine(':srv 353 me = #c :@op +v plain'), {
    tags: {},
    source: 'srv',
    command: '353',
    params: ['me', '=', '#c', '@op +v plain'],
  });
  assert.deepEqual(parseLine('CAP * LS * :a b').params, ['*', 'LS', '*', 'a b']);
  assert.deepEqual(parseLine('NICK bob\r\n').params, ['bob']);
});

test('rejects empty and truncated lines', () => {
  assert.equal(parseLine(''), null);
  assert.equal(parseLine('@tags-only'), null);
  assert.equal(parseLine(':source-only'), null);
});

test('unescapes tag values as IRCv3 says', () => {
  assert.equal(unescapeTagValue('a\\sb\\:c\\\\d\\re\\nf'), 'a b;c\\d\re\nf');
  assert.equal(unescapeTagValue('\\x'), 'x', 'an unknown escape keeps its character');
  assert.equal(unescapeTagValue('end\\'), 'end', 'a trailing backslash is dropped');
  assert.equal(parseLine('@k=a\\sb\\:c FOO').tags.k, 'a b;c');
});

test('escaping and unescaping tag values round-trip', () => {
  for (const value of ['plain', 'a b;c\\d\r\ne', '; ;', '\\s']) {
    assert.equal(unescapeTagValue(escapeTagValue(value)), value);
  }
});

test('formats lines, with a colon only where needed', () => {
  assert.equal(command('PRIVMSG', '#c', 'hello there'), 'PRIVMSG #c :hello there');
  assert.equal(command('PRIVMSG', '#c', 'word'), 'PRIVMSG #c word');
  assert.equal(command('PRIVMSG', '#c', ':)'), 'PRIVMSG #c ::)');
  assert.equal(command('TOPIC', '#c', ''), 'TOPIC #c :');
  assert.equal(formatLine({ tags: { '+typing': 'active', label: 'a b' }, command: 'TAGMSG', params: ['#c'] }), '@+typing=active;label=a\\sb TAGMSG #c');
});

test('formatted lines parse back to the same message', () => {
  const message = { tags: { msgid: 'x;y' }, source: 'n!u@h', command: 'PRIVMSG', params: ['#c', ':a b: c'] };
  assert.deepEqual(parseLine(formatLine(message)), message);
});

test('refuses to write text that would smuggle a second command', () => {
  assert.throws(() => command('PRIVMSG', '#c', 'hi\r\nQUIT :bye'), /CR, LF or NUL/);
  assert.throws(() => command('PRIVMSG', '#c', 'hi\nJOIN #x'), /CR, LF or NUL/);
  assert.throws(() => command('PRIVMSG', '#c x', 'hi'), /only the last/);
  assert.throws(() => command('PRIV MSG', '#c', 'hi'), /invalid IRC command/);
});

test('parses sources', () => {
  assert.deepEqual(parseSource('alice!al@example.net'), { nick: 'alice', user: 'al', host: 'example.net' });
  assert.deepEqual(parseSource('alice'), { nick: 'alice', user: '', host: '' });
  assert.deepEqual(parseSource('irc.example.net'), { nick: '', user: '', host: 'irc.example.net' });
  assert.deepEqual(parseSource('bob@host'), { nick: 'bob', user: '', host: 'host' });
});

test('folds case as rfc1459 and ascii do', () => {
  assert.equal(foldCase('Nick[]\\~'), 'nick{}|^');
  assert.equal(foldCase('Nick[]\\~', 'ascii'), 'nick[]\\~');
  assert.equal(foldCase('A~', 'strict-rfc1459'), 'a~');
});

test('splits CTCP ACTION', () => {
  assert.deepEqual(parseAction('\x01ACTION waves\x01'), { action: true, text: 'waves' });
  assert.deepEqual(parseAction('\x01ACTION\x01'), { action: true, text: '' });
  assert.deepEqual(parseAction('plain'), { action: false, text: 'plain' });
});

test('parses ISUPPORT and PREFIX', () => {
  const isupport = parseIsupport(['CHATHISTORY=500', 'CASEMAPPING=rfc1459', 'SAFELIST', 'NETWORK=a\\x20b']);
  assert.deepEqual(isupport, { CHATHISTORY: '500', CASEMAPPING: 'rfc1459', SAFELIST: '', NETWORK: 'a b' });
  parseIsupport(['-SAFELIST'], isupport);
  assert.equal('SAFELIST' in isupport, false);
  assert.deepEqual(parsePrefix('(qaohv)~&@%+'), { modes: 'qaohv', symbols: '~&@%+' });
});
