// The IRC session as the page sees it: registration and capabilities, the
// buffers (server, channels, queries) and what each incoming line does to
// them, history through draft/chathistory, and the commands a user types.
// Pure logic: lines go out through `send`, changes are announced through
// `onChange`; no DOM, no network of its own.

import { Buffer } from './buffers.js';
import { command, foldCase, isChannel, parseAction, parseIsupport, parseLine, parsePrefix, parseSource } from './irc.js';

export const WANTED_CAPS = ['message-tags', 'server-time', 'batch', 'echo-message', 'draft/chathistory', 'chathistory'];
export const HISTORY_PAGE = 50;
const SERVER_KEY = '*server*';
const HELP =
  'Commands: /join #channel, /part [#channel], /msg nick text, /query nick, /me action, ' +
  '/nick newnick, /topic [text], /close, /quote RAW LINE. Start a line with // to send it as text.';

export class ChatClient {
  /**
   * `options`: nick, channels (names to join), send(line), onChange(),
   * onNickTaken({ nick, suggestion, why }) (before registration, when the
   * user should choose), onRegistered(),
   * now() (a Date; replaceable in tests).
   */
  constructor({ nick, channels = [], send, onChange = () => {}, onNickTaken = () => {}, onRegistered = () => {}, now = () => new Date() }) {
    this.nick = nick;
    this.send = send;
    this.onChange = onChange;
    this.onNickTaken = onNickTaken;
    this.onRegistered = onRegistered;
    this.now = now;
    this.buffers = new Map();
    this.server = this.buffer('server', 'server', SERVER_KEY);
    this.active = this.server;
    this.wantedChannels = [...channels];
    this.everRegistered = false;
    this.autoNickTries = 0;
    this.resetSession();
  }

  // ----- connection life cycle -----

  resetSession() {
    this.registered = false;
    this.caps = new Set();
    this.offeredCaps = new Set();
    this.isupport = {};
    this.prefix = parsePrefix('(ov)@+');
    this.batches = new Map();
    this.historyRequests = new Map(); // folded target -> FIFO of requests
  }

  /** The transport is open: register. */
  connected() {
    this.resetSession();
    this.send('CAP LS 302');
    this.send(command('NICK', this.nick));
    this.send(command('USER', 'web', '0', '*', this.nick));
  }

  /** The transport is gone: nothing is joined until the next registration. */
  disconnected(reason) {
    const wasRegistered = this.registered;
    this.resetSession();
    for (const buffer of this.buffers.values()) {
      if (buffer.kind === 'channel' && buffer.joined) {
        buffer.joined = false;
        buffer.loadingOlder = false;
        if (wasRegistered) this.info(buffer, 'info', `Disconnected${reason ? `: ${reason}` : ''}`);
      }
    }
    this.onChange();
  }

  // ----- buffers -----

  fold(name) {
    return foldCase(name, this.isupport.CASEMAPPING || 'rfc1459');
  }

  isMe(nick) {
    return this.fold(nick) === this.fold(this.nick);
  }

  isChannel(name) {
    return isChannel(name, this.isupport.CHANTYPES || '#&');
  }

  buffer(name, kind, key = this.fold(name)) {
    let buffer = this.buffers.get(key);
    if (!buffer) {
      buffer = new Buffer(name, kind, key);
      this.buffers.set(key, buffer);
    }
    return buffer;
  }

  find(name) {
    return this.buffers.get(this.fold(name)) ?? null;
  }

  setActive(buffer) {
    this.active = buffer;
    buffer.markRead();
    this.onChange();
  }

  /** Closes a buffer: a joined channel is parted (the buffer goes when the
   * server confirms), anything else just goes. */
  close(buffer) {
    if (buffer === this.server) return;
    if (buffer.kind === 'channel' && buffer.joined) {
      this.send(command('PART', buffer.name));
      buffer.closing = true;
      return;
    }
    this.remove(buffer);
  }

  remove(buffer) {
    this.buffers.delete(buffer.key);
    this.wantedChannels = this.wantedChannels.filter((name) => this.fold(name) !== buffer.key);
    if (this.active === buffer) this.active = this.server;
    this.onChange();
  }

  /** An event line (join, part, error...) in a buffer. */
  info(buffer, type, text, tags = {}, from = '') {
    return buffer.add({ msgid: tags.msgid || null, time: this.timeOf(tags, buffer), type, from, text, self: false });
  }

  /** The server's time for a line; without one (no server-time, or a line of
   * our own) now, but never before the newest line held, so it shows last. */
  timeOf(tags, buffer) {
    const time = tags.time ? new Date(tags.time) : null;
    if (time && !Number.isNaN(time.getTime())) return time;
    const now = this.now();
    const newest = buffer?.messages.at(-1)?.time;
    return newest && newest > now ? newest : now;
  }

  // ----- what the user does -----

  /** Handles a line typed into `buffer`: a /command or text to send.
   * Returns an error sentence for the user, or null. */
  input(text, buffer = this.active) {
    try {
      return this.command(text, buffer);
    } catch (error) {
      // Text that cannot be one IRC line (CR, LF, NUL) is refused, not sent.
      return error.message;
    }
  }

  command(text, buffer) {
    if (!text.trim()) return null;
    if (!text.startsWith('/') || text.startsWith('//')) {
      return this.say(buffer, text.startsWith('//') ? text.slice(1) : text);
    }
    const [, name = '', rest = ''] = /^\/(\S+)\s*(.*)$/s.exec(text) ?? [];
    const args = rest.split(/\s+/).filter(Boolean);
    switch (name.toLowerCase()) {
      case 'join':
      case 'j':
        if (!args[0]) return 'Usage: /join #channel';
        for (const channel of args[0].split(',')) this.join(this.isChannel(channel) ? channel : `#${channel}`);
        return null;
      case 'part':
      case 'leave': {
        const target = args[0] && this.isChannel(args[0]) ? this.find(args[0]) : buffer;
        if (!target || target.kind !== 'channel') return 'Usage: /part [#channel]';
        this.close(target);
        return null;
      }
      case 'msg':
      case 'query': {
        if (!args[0]) return `Usage: /${name} nick [text]`;
        const target = this.isChannel(args[0]) ? this.buffer(args[0], 'channel') : this.buffer(args[0], 'query');
        const body = rest.slice(rest.indexOf(args[0]) + args[0].length).trim();
        this.setActive(target);
        return body ? this.say(target, body) : null;
      }
      case 'me':
        return this.say(buffer, `\x01ACTION ${rest}\x01`);
      case 'nick':
        if (!args[0]) return 'Usage: /nick newnick';
        this.send(command('NICK', args[0]));
        return null;
      case 'topic':
        if (buffer.kind !== 'channel') return '/topic works in a channel';
        this.send(rest ? command('TOPIC', buffer.name, rest) : command('TOPIC', buffer.name));
        return null;
      case 'close':
        this.close(buffer);
        return null;
      case 'quote':
      case 'raw':
        if (/[\r\n\0]/.test(rest)) return 'A raw line cannot contain CR, LF or NUL';
        if (!parseLine(rest)) return 'Usage: /quote RAW IRC LINE';
        this.send(rest);
        return null;
      case 'help':
        this.info(buffer, 'info', HELP);
        this.onChange();
        return null;
      default:
        return `Unknown command /${name} (try /help)`;
    }
  }

  say(buffer, text) {
    if (buffer.kind === 'server') return 'Join a channel or open a query to talk';
    if (!this.registered) return 'Not connected; the line was not sent';
    this.send(command('PRIVMSG', buffer.name, text));
    if (!this.caps.has('echo-message')) {
      const { action, text: body } = parseAction(text);
      buffer.add({ msgid: null, time: this.timeOf({}, buffer), type: action ? 'action' : 'privmsg', from: this.nick, text: body, self: true });
      this.onChange();
    }
    return null;
  }

  join(channel) {
    if (!this.wantedChannels.some((name) => this.fold(name) === this.fold(channel))) this.wantedChannels.push(channel);
    this.setActive(this.buffer(channel, 'channel'));
    if (this.registered) this.send(command('JOIN', channel));
  }

  /** Tries another nickname (before registration: after a 433). */
  setNick(nick) {
    this.nick = nick;
    this.send(command('NICK', nick));
  }

  /** Asks for the page of history before the oldest message held. */
  loadOlder(buffer) {
    const oldest = buffer.oldestMsgid();
    if (!this.historyEnabled() || !buffer.joined || !buffer.canLoadOlder() || !oldest) return false;
    buffer.loadingOlder = true;
    this.requestHistory(buffer, 'before', `msgid=${oldest}`);
    this.onChange();
    return true;
  }

  // ----- history -----

  historyEnabled() {
    return this.caps.has('batch') && this.caps.has('message-tags') && (this.caps.has('draft/chathistory') || this.caps.has('chathistory'));
  }

  historyLimit() {
    const limit = Number.parseInt(this.isupport.CHATHISTORY, 10);
    return limit > 0 ? limit : 100;
  }

  /** `kind`: 'latest' (on a first join), 'after' (what was missed), 'before' (scrolling up). */
  requestHistory(buffer, kind, reference) {
    const limit = kind === 'after' ? this.historyLimit() : Math.min(HISTORY_PAGE, this.historyLimit());
    const queue = this.historyRequests.get(buffer.key) ?? [];
    queue.push({ kind, limit });
    this.historyRequests.set(buffer.key, queue);
    this.send(command('CHATHISTORY', kind.toUpperCase(), buffer.name, reference, String(limit)));
  }

  /** The channel is joined: fetch what is missing, newest first. */
  fetchOnJoin(buffer) {
    if (!this.historyEnabled()) return;
    const newest = buffer.newestMsgid();
    if (newest) this.requestHistory(buffer, 'after', `msgid=${newest}`);
    else this.requestHistory(buffer, 'latest', '*');
  }

  historyDone(target, messages) {
    const buffer = this.find(target);
    const queue = this.historyRequests.get(this.fold(target));
    const request = queue?.shift() ?? { kind: 'latest', limit: Infinity };
    if (!buffer) return;
    let added = 0;
    const older = request.kind === 'before';
    for (const message of older ? [...messages].reverse() : messages) {
      if (this.addChat(buffer, message, { history: true, older })) added++;
    }
    if (request.kind === 'after') {
      // Missed lines count as unread; a full page means there may be more.
      if (buffer !== this.active) buffer.unread += added;
      if (messages.length >= request.limit && buffer.joined) this.requestHistory(buffer, 'after', `msgid=${buffer.newestMsgid()}`);
    } else {
      if (messages.length < request.limit) buffer.olderExhausted = true;
      buffer.loadingOlder = false;
    }
    buffer.version++;
  }

  // ----- incoming lines -----

  handleLine(line) {
    const message = parseLine(line);
    if (!message) return;
    const batch = message.tags.batch && this.batches.get(message.tags.batch);
    if (batch && message.command !== 'BATCH') {
      batch.messages.push(message);
      return;
    }
    const handler = HANDLERS[message.command];
    if (handler) handler.call(this, message);
    else if (/^[0-9]{3}$/.test(message.command)) this.numeric(message);
    this.onChange();
  }

  /** A PRIVMSG or NOTICE into a buffer. Returns the stored message or null. */
  addChat(buffer, message, { history = false, older = false } = {}) {
    const from = parseSource(message.source).nick || message.source || '';
    const self = this.isMe(from);
    const { action, text } = parseAction(message.params[1] ?? '');
    const highlight = !self && mentions(text, this.nick);
    const stored = buffer.add({
      msgid: message.tags.msgid || null,
      time: this.timeOf(message.tags, buffer),
      type: action ? 'action' : message.command === 'NOTICE' ? 'notice' : 'privmsg',
      from,
      text,
      self,
      highlight,
    }, { older });
    if (stored && !history && !self && buffer !== this.active) {
      buffer.unread++;
      if (highlight || buffer.kind === 'query') buffer.mention = true;
    }
    return stored;
  }

  numeric(message) {
    const [, ...rest] = message.params;
    const text = rest.join(' ');
    const handler = NUMERICS[message.command];
    if (handler) {
      handler.call(this, message);
      return;
    }
    const code = Number(message.command);
    // 4xx/5xx answer something the user did; 422 (no MOTD) is only news.
    if (code >= 400 && code < 600 && code !== 422) {
      const about = rest.length > 1 ? this.find(rest[0]) : null;
      this.info(about ?? this.active, 'error', text, message.tags);
      return;
    }
    this.info(this.server, 'info', text, message.tags);
  }

  renameEverywhere(oldNick, newNick, tags) {
    const oldKey = this.fold(oldNick);
    const newKey = this.fold(newNick);
    for (const buffer of this.buffers.values()) {
      const member = buffer.members.get(oldKey);
      if (member) {
        buffer.removeMember(oldKey);
        buffer.setMember(newKey, newNick, member.modes);
        this.info(buffer, 'nick', `${oldNick} is now known as ${newNick}`, tags);
      }
    }
    const query = this.buffers.get(oldKey);
    if (query && query.kind === 'query' && !this.buffers.has(newKey)) {
      this.buffers.delete(oldKey);
      query.name = newNick;
      query.key = newKey;
      this.buffers.set(newKey, query);
      this.info(query, 'nick', `${oldNick} is now known as ${newNick}`, tags);
    }
  }

  applyModes(buffer, modes, args) {
    let adding = true;
    let next = 0;
    for (const mode of modes) {
      if (mode === '+' || mode === '-') {
        adding = mode === '+';
        continue;
      }
      if (this.prefix.modes.includes(mode)) {
        const nick = args[next++];
        const member = nick && buffer.members.get(this.fold(nick));
        if (member) {
          const set = adding ? member.modes.replace(mode, '') + mode : member.modes.replace(mode, '');
          buffer.setMember(this.fold(nick), member.nick, set);
        }
      } else if ('beIkl'.includes(mode) && (adding || mode !== 'l')) {
        next++;
      }
    }
  }
}

/** Whether `text` names `nick` as a word. */
export function mentions(text, nick) {
  if (!nick) return false;
  const escaped = nick.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w\\[\\]\\\\^{}|-])${escaped}($|[^\\w\\[\\]\\\\^{}|-])`, 'i').test(text);
}

/**
 * Tab completion of the word before `cursor` to a nick that starts with it
 * (any case), `nick: ` at the start of the line, `nick ` elsewhere. Given the
 * result of the previous Tab (and nothing typed since), it moves on to the
 * next match, round. Returns `{ text, cursor, ... }` to show and to pass back
 * next time, or null when nothing matches.
 */
export function completeNick(text, cursor, nicks, previous = null) {
  let { start, prefix, matches, index } = previous ?? {};
  if (previous && previous.text === text && previous.cursor === cursor) {
    index = (index + 1) % matches.length;
  } else {
    start = text.lastIndexOf(' ', cursor - 1) + 1;
    prefix = text.slice(start, cursor).toLowerCase();
    if (!prefix) return null;
    matches = nicks
      .filter((nick) => nick.toLowerCase().startsWith(prefix))
      .sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
    if (!matches.length) return null;
    index = 0;
  }
  const completed = matches[index] + (start === 0 ? ': ' : ' ');
  const result = text.slice(0, start) + completed + text.slice(cursor);
  return { text: result, cursor: start + completed.length, start, prefix, matches, index };
}

/** The nick to offer when one is taken: one more `_`, cut to fit NICKLEN. */
export function alternativeNick(nick, nicklen = 32) {
  const base = nick.length >= nicklen ? nick.slice(0, nicklen - 1) : nick;
  return `${base}_`;
}

// Commands, each applied to the client (`this`).
const HANDLERS = {
  PING(message) {
    this.send(command('PONG', ...message.params));
  },
  CAP(message) {
    const [, sub, ...rest] = message.params;
    const list = (rest[rest.length - 1] ?? '').split(' ').filter(Boolean);
    switch ((sub ?? '').toUpperCase()) {
      case 'LS': {
        for (const cap of list) this.offeredCaps.add(cap.split('=')[0]);
        if (rest[0] === '*') return; // more LS lines follow
        const wanted = WANTED_CAPS.filter((cap) => this.offeredCaps.has(cap));
        if (wanted.length) this.send(command('CAP', 'REQ', wanted.join(' ')));
        else this.send('CAP END');
        return;
      }
      case 'ACK':
        for (const cap of list) {
          if (cap.startsWith('-')) this.caps.delete(cap.slice(1));
          else this.caps.add(cap);
        }
        if (!this.registered) this.send('CAP END');
        return;
      case 'NAK':
        if (!this.registered) this.send('CAP END');
        return;
      case 'DEL':
        for (const cap of list) this.caps.delete(cap);
        return;
      default:
    }
  },
  BATCH(message) {
    const [reference, type, target] = message.params;
    if (!reference) return;
    if (reference.startsWith('+')) {
      this.batches.set(reference.slice(1), { type, target, messages: [] });
      return;
    }
    const batch = this.batches.get(reference.slice(1));
    this.batches.delete(reference.slice(1));
    if (!batch) return;
    if (batch.type === 'chathistory' || batch.type === 'draft/chathistory') {
      this.historyDone(batch.target, batch.messages.filter((m) => m.command === 'PRIVMSG' || m.command === 'NOTICE'));
    } else {
      for (const inner of batch.messages) HANDLERS[inner.command]?.call(this, inner);
    }
  },
  PRIVMSG(message) {
    const [target] = message.params;
    const from = parseSource(message.source).nick;
    let buffer;
    if (this.isChannel(target)) buffer = this.buffer(target, 'channel');
    else if (!from || (message.command === 'NOTICE' && !this.registered)) buffer = this.server;
    else buffer = this.buffer(this.isMe(from) ? target : from, 'query');
    this.addChat(buffer, message);
  },
  NOTICE(message) {
    HANDLERS.PRIVMSG.call(this, message);
  },
  JOIN(message) {
    const [channel] = message.params;
    const { nick } = parseSource(message.source);
    const buffer = this.buffer(channel, 'channel');
    if (this.isMe(nick)) {
      buffer.name = channel;
      buffer.joined = true;
      buffer.closing = false;
      buffer.members.clear();
      buffer.membersVersion++;
      if (!this.wantedChannels.some((name) => this.fold(name) === buffer.key)) this.wantedChannels.push(channel);
      // The first channel joined is shown, unless the user chose another.
      if (this.active === this.server && buffer.messages.length === 0) this.setActive(buffer);
      this.fetchOnJoin(buffer);
    }
    buffer.setMember(this.fold(nick), nick);
    this.info(buffer, 'join', `${nick} joined ${channel}`, message.tags, nick);
  },
  PART(message) {
    const [channel, reason] = message.params;
    const { nick } = parseSource(message.source);
    const buffer = this.find(channel);
    if (!buffer) return;
    if (this.isMe(nick)) {
      buffer.joined = false;
      buffer.members.clear();
      buffer.membersVersion++;
      if (buffer.closing) {
        this.remove(buffer);
        return;
      }
      this.wantedChannels = this.wantedChannels.filter((name) => this.fold(name) !== buffer.key);
    } else {
      buffer.removeMember(this.fold(nick));
    }
    this.info(buffer, 'part', `${nick} left ${channel}${reason ? ` (${reason})` : ''}`, message.tags, nick);
  },
  KICK(message) {
    const [channel, victim, reason] = message.params;
    const { nick } = parseSource(message.source);
    const buffer = this.find(channel);
    if (!buffer) return;
    buffer.removeMember(this.fold(victim));
    if (this.isMe(victim)) {
      buffer.joined = false;
      this.wantedChannels = this.wantedChannels.filter((name) => this.fold(name) !== buffer.key);
    }
    this.info(buffer, 'part', `${victim} was kicked by ${nick}${reason ? ` (${reason})` : ''}`, message.tags, victim);
  },
  QUIT(message) {
    const [reason] = message.params;
    const { nick } = parseSource(message.source);
    for (const buffer of this.buffers.values()) {
      if (buffer.removeMember(this.fold(nick))) {
        this.info(buffer, 'quit', `${nick} quit${reason ? ` (${reason})` : ''}`, message.tags, nick);
      }
    }
  },
  NICK(message) {
    const [newNick] = message.params;
    const { nick } = parseSource(message.source);
    if (this.isMe(nick)) {
      this.nick = newNick;
      this.info(this.server, 'nick', `You are now known as ${newNick}`, message.tags);
    }
    this.renameEverywhere(nick, newNick, message.tags);
  },
  TOPIC(message) {
    const [channel, topic = ''] = message.params;
    const { nick } = parseSource(message.source);
    const buffer = this.buffer(channel, 'channel');
    buffer.topic = topic;
    buffer.topicBy = nick;
    this.info(buffer, 'topic', topic ? `${nick} set the topic: ${topic}` : `${nick} cleared the topic`, message.tags, nick);
  },
  MODE(message) {
    const [target, modes = '', ...args] = message.params;
    const { nick } = parseSource(message.source);
    if (!this.isChannel(target)) return;
    const buffer = this.buffer(target, 'channel');
    this.applyModes(buffer, modes, args);
    this.info(buffer, 'mode', `${nick || message.source} sets mode ${[modes, ...args].join(' ')}`, message.tags, nick);
  },
  INVITE(message) {
    const [, channel] = message.params;
    const { nick } = parseSource(message.source);
    this.info(this.active, 'info', `${nick} invites you to ${channel} (/join ${channel})`, message.tags, nick);
  },
  ERROR(message) {
    this.info(this.server, 'error', message.params[0] ?? 'Connection closed', message.tags);
  },
  FAIL(message) {
    const [cmd, , ...rest] = message.params;
    if (cmd === 'CHATHISTORY') {
      // A refused page: its target, if named, is the second context parameter.
      const target = rest.length > 1 ? rest[1] : null;
      const buffer = target && this.find(target);
      if (buffer) {
        this.historyRequests.get(buffer.key)?.shift();
        buffer.loadingOlder = false;
        buffer.olderExhausted = true;
      }
    }
    this.info(this.server, 'error', message.params.slice(1).join(' '), message.tags);
  },
};

// Numeric replies that change state; the others become lines in a buffer.
const NUMERICS = {
  '001'(message) {
    this.registered = true;
    this.everRegistered = true;
    this.nick = message.params[0];
    this.info(this.server, 'info', message.params[1] ?? 'Welcome', message.tags);
    const channels = this.wantedChannels.filter((name) => this.isChannel(name));
    if (channels.length) this.send(command('JOIN', channels.join(',')));
    this.autoNickTries = 0;
    this.onRegistered();
  },
  '005'(message) {
    parseIsupport(message.params.slice(1, -1), this.isupport);
    if (this.isupport.PREFIX) this.prefix = parsePrefix(this.isupport.PREFIX);
  },
  331(message) {
    const buffer = this.find(message.params[1]);
    if (buffer) buffer.topic = '';
  },
  332(message) {
    const buffer = this.buffer(message.params[1], 'channel');
    buffer.topic = message.params[2] ?? '';
    buffer.version++;
  },
  333(message) {
    const buffer = this.find(message.params[1]);
    if (buffer) buffer.topicBy = parseSource(message.params[2]).nick || message.params[2];
  },
  353(message) {
    const [, , channel, names = ''] = message.params;
    const buffer = this.find(channel);
    if (!buffer) return;
    buffer.pendingNames ??= new Map();
    for (const entry of names.split(' ').filter(Boolean)) {
      let i = 0;
      let modes = '';
      while (i < entry.length && this.prefix.symbols.includes(entry[i])) {
        modes += this.prefix.modes[this.prefix.symbols.indexOf(entry[i])];
        i++;
      }
      const nick = parseSource(entry.slice(i)).nick;
      buffer.pendingNames.set(this.fold(nick), { nick, modes });
    }
  },
  366(message) {
    const buffer = this.find(message.params[1]);
    if (!buffer || !buffer.pendingNames) return;
    buffer.members = buffer.pendingNames;
    buffer.pendingNames = null;
    buffer.membersVersion++;
    buffer.version++;
  },
  432(message) {
    NUMERICS[433].call(this, message, 'is not a valid nickname');
  },
  433(message, why = 'is already in use') {
    const nick = message.params[1] ?? this.nick;
    const suggestion = alternativeNick(nick, Number(this.isupport.NICKLEN) || 32);
    this.info(this.registered ? this.active : this.server, 'error', `Nickname ${nick} ${why}`, message.tags);
    if (this.registered) return;
    // Coming back after a reconnect the page picks the alternative itself, a
    // few times; otherwise the user chooses.
    if (this.everRegistered && message.command === '433' && this.autoNickTries < 5) {
      this.autoNickTries++;
      this.setNick(suggestion);
    } else {
      this.onNickTaken({ nick, suggestion, why });
    }
  },
};
