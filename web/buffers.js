// The state of one conversation window (a "buffer"): the server's, a
// channel's or a private query's. Messages are kept in time order and at most
// once per msgid, because history and live traffic may overlap. Pure data: no
// DOM, no network.

export const MAX_MESSAGES = 5000;

let localIds = 0;

export const CHAT_TYPES = new Set(['privmsg', 'notice', 'action']);

function isHistoryAnchor(message) {
  return Boolean(message.msgid) && CHAT_TYPES.has(message.type);
}

export class Buffer {
  /** `kind`: 'server', 'channel' or 'query'; `key`: the case-folded name. */
  constructor(name, kind, key) {
    this.name = name;
    this.kind = kind;
    this.key = key;
    this.messages = [];
    this.msgids = new Set();
    this.members = new Map(); // folded nick -> { nick, modes }
    this.pendingNames = null; // members collected from 353 until 366
    this.topic = '';
    this.topicBy = '';
    this.joined = false;
    this.unread = 0;
    this.mention = false;
    // Older history: whether more may exist, and whether a request is out.
    this.olderExhausted = false;
    this.loadingOlder = false;
    // Bumped on every change, so a view redraws only what changed.
    this.version = 0;
    this.membersVersion = 0;
  }

  /**
   * Adds a message `{ msgid, time: Date, type, from, text, self, highlight }`
   * in time order; a message with a msgid already present is ignored.
   * Among lines of the same time (milliseconds tie) it goes after them, or
   * with `older` before them: a page of older history is added newest first
   * with `older`, so it keeps its order and stays before what was there.
   * Returns the stored message, or null for a duplicate.
   */
  add(message, { older = false } = {}) {
    if (message.msgid) {
      if (this.msgids.has(message.msgid)) return null;
      this.msgids.add(message.msgid);
    }
    const stored = { ...message, id: message.msgid ? `m:${message.msgid}` : `l:${++localIds}` };
    const at = this.insertionIndex(stored.time, older);
    this.messages.splice(at, 0, stored);
    if (this.messages.length > MAX_MESSAGES) {
      // Bounded: the oldest line goes; older pages are no longer asked for
      // once the buffer is full (see canLoadOlder).
      const dropped = this.messages.shift();
      if (dropped.msgid) this.msgids.delete(dropped.msgid);
    }
    this.version++;
    return stored;
  }

  /** After the last message whose time is not later than `time`; with
   * `older`, before the first whose time is not earlier. */
  insertionIndex(time, older = false) {
    let low = 0;
    let high = this.messages.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      const t = this.messages[mid].time;
      if (older ? t < time : t <= time) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Whether scrolling up may ask the server for an older page. */
  canLoadOlder() {
    return this.kind === 'channel' && !this.olderExhausted && !this.loadingOlder && this.messages.length < MAX_MESSAGES;
  }

  /** The msgids of the newest and oldest chat lines: the anchors for
   * history requests (joins, parts and the like are not in history). */
  newestMsgid() {
    for (let i = this.messages.length - 1; i >= 0; i--) if (isHistoryAnchor(this.messages[i])) return this.messages[i].msgid;
    return null;
  }

  oldestMsgid() {
    return this.messages.find(isHistoryAnchor)?.msgid ?? null;
  }

  /** Members sorted: operators, then voiced, then the rest, by name. */
  sortedMembers(prefixSymbols = '@+', prefixModes = 'ov') {
    const rank = (member) => {
      const index = [...prefixModes].findIndex((mode) => member.modes.includes(mode));
      return index < 0 ? prefixModes.length : index;
    };
    return [...this.members.values()]
      .map((member) => ({ ...member, rank: rank(member), prefix: rank(member) < prefixModes.length ? prefixSymbols[rank(member)] : '' }))
      .sort((a, b) => a.rank - b.rank || a.nick.localeCompare(b.nick, undefined, { sensitivity: 'base' }));
  }

  setMember(key, nick, modes = '') {
    this.members.set(key, { nick, modes });
    this.membersVersion++;
    this.version++;
  }

  removeMember(key) {
    const had = this.members.delete(key);
    if (had) {
      this.membersVersion++;
      this.version++;
    }
    return had;
  }

  markRead() {
    if (this.unread || this.mention) this.version++;
    this.unread = 0;
    this.mention = false;
  }
}
