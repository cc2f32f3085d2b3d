// Drawing the client's state into the page. Every piece of text that came
// from the network goes into the document through textContent or text nodes:
// nothing a user sends can become markup or script. Links are made only for
// http(s) addresses, as elements whose href is set as a property.

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}]/g;

/** `document.createElement` with a class and optional text. */
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Text with its http(s) addresses as links, built from text nodes. */
export function linkified(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    fragment.append(document.createTextNode(text.slice(last, match.index)));
    const link = element('a', 'link', match[0]);
    link.href = match[0];
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    fragment.append(link);
    last = match.index + match[0].length;
  }
  fragment.append(document.createTextNode(text.slice(last)));
  return fragment;
}

/** One of a few colours per nick, always the same for one nick. */
export function nickColor(nick) {
  let hash = 0;
  for (const ch of nick.toLowerCase()) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `nick-c${hash % 8}`;
}

/** Makes `parent`'s children exactly `nodes`, in order, moving only what is
 * out of place: appending one line to a long list touches one node. */
function placeChildren(parent, nodes) {
  let cursor = parent.firstChild;
  for (const node of nodes) {
    if (node === cursor) cursor = cursor.nextSibling;
    else parent.insertBefore(node, cursor);
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

function pad(number) {
  return String(number).padStart(2, '0');
}

/** `14:03` today; `21 Nov 14:03` on another day. */
export function timeLabel(time, now) {
  const clock = `${pad(time.getHours())}:${pad(time.getMinutes())}`;
  if (time.toDateString() === now.toDateString()) return clock;
  return `${time.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })} ${clock}`;
}

function messageNode(message) {
  const item = element('li', `msg msg-${message.type}`);
  if (message.self) item.classList.add('self');
  if (message.highlight) item.classList.add('highlight');
  if (message.msgid) item.dataset.msgid = message.msgid;
  const time = element('time', 'time', timeLabel(message.time, new Date()));
  time.dateTime = message.time.toISOString();
  time.title = message.time.toLocaleString();
  item.append(time, ' ');
  if (message.type === 'privmsg' || message.type === 'notice' || message.type === 'action') {
    const label = message.type === 'action' ? `* ${message.from}` : message.type === 'notice' ? `-${message.from}-` : message.from;
    const nick = element('span', `nick ${nickColor(message.from)}`, label);
    nick.dataset.nick = message.from;
    item.append(nick, ' ');
  }
  const text = element('span', 'text');
  text.append(linkified(message.text));
  item.append(text);
  return item;
}

function memberItem(member, label, actions) {
  const item = element('li', 'member');
  item.dataset.nick = member.nick;
  const button = element('button', `member-name ${nickColor(member.nick)}`, label);
  button.type = 'button';
  button.title = `Private conversation with ${member.nick}`;
  button.addEventListener('click', () => actions.query(member.nick));
  item.append(button);
  return item;
}

export class View {
  /** `actions`: select(buffer), close(buffer), query(nick), loadOlder(buffer). */
  constructor(doc, actions) {
    this.doc = doc;
    this.actions = actions;
    this.$ = (id) => doc.getElementById(id);
    this.nodes = new WeakMap(); // message -> <li>
    this.bufferItems = new WeakMap(); // buffer -> its sidebar item's elements
    this.memberItems = new Map(); // '@nick' -> its item in the member list
    this.unreadBuffers = 0;
    this.toEnd = false;
    this.drawn = { buffer: null, version: -1, membersVersion: -1 };
    this.pending = false;
    this.$('messages').addEventListener('scroll', () => this.onScroll());
  }

  /** Redraws soon, once for many changes. */
  schedule(client) {
    this.client = client;
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      this.render();
    }, 0);
  }

  render() {
    const client = this.client;
    if (!client) return;
    const buffer = client.active;
    this.renderBufferList(client);
    this.renderHeader(client, buffer);
    if (this.drawn.buffer !== buffer || this.drawn.version !== buffer.version) this.renderMessages(buffer);
    if (this.drawn.buffer !== buffer || this.drawn.membersVersion !== buffer.membersVersion) this.renderMembers(client, buffer);
    this.drawn = { buffer, version: buffer.version, membersVersion: buffer.membersVersion };
  }

  renderBufferList(client) {
    // Items are kept and updated in place: a line arriving between a press
    // and its release must not replace the button being clicked.
    const buffers = [...client.buffers.values()];
    placeChildren(
      this.$('buffer-list'),
      buffers.map((buffer) => this.bufferItem(client, buffer)),
    );
    const unread = buffers.filter((buffer) => buffer.unread && buffer !== client.active).length;
    this.$('sidebar-toggle').classList.toggle('unread', unread > 0);
    this.unreadBuffers = unread;
  }

  bufferItem(client, buffer) {
    let parts = this.bufferItems.get(buffer);
    if (!parts) {
      const item = element('li', `buffer buffer-${buffer.kind}`);
      const select = element('button', 'buffer-name');
      select.type = 'button';
      select.addEventListener('click', () => this.actions.select(buffer));
      const badge = element('span', 'badge');
      item.append(select, badge);
      if (buffer.kind !== 'server') {
        const close = element('button', 'buffer-close', '\u00d7');
        close.type = 'button';
        close.addEventListener('click', () => this.actions.close(buffer));
        item.append(close);
      }
      parts = { item, select, badge, close: item.querySelector('.buffer-close') };
      this.bufferItems.set(buffer, parts);
    }
    const { item, select, badge, close } = parts;
    item.dataset.buffer = buffer.name;
    item.classList.toggle('active', buffer === client.active);
    item.classList.toggle('unread', buffer.unread > 0);
    item.classList.toggle('mention', buffer.mention);
    item.classList.toggle('parted', buffer.kind === 'channel' && !buffer.joined);
    select.textContent = buffer.kind === 'server' ? 'server' : buffer.name;
    badge.textContent = buffer.unread ? String(buffer.unread) : '';
    badge.hidden = !buffer.unread;
    if (close) {
      close.title = buffer.kind === 'channel' ? `Leave ${buffer.name}` : `Close ${buffer.name}`;
      close.setAttribute('aria-label', close.title);
    }
    return item;
  }

  renderHeader(client, buffer) {
    this.$('title').textContent = buffer.kind === 'server' ? `${client.nick} \u2014 server` : buffer.name;
    this.$('topic').textContent = buffer.topic;
    this.$('topic').title = buffer.topic;
    this.$('members-toggle').hidden = buffer.kind !== 'channel';
    this.$('members-toggle').textContent = `Members (${buffer.members.size})`;
    this.$('chat').classList.toggle('no-members', buffer.kind !== 'channel');
    const name = buffer.kind === 'server' ? 'netkit chat' : `${buffer.name} \u2014 netkit chat`;
    this.doc.title = this.unreadBuffers ? `(${this.unreadBuffers}) ${name}` : name;
  }

  renderMessages(buffer) {
    const list = this.$('messages');
    const switched = this.drawn.buffer !== buffer;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 8;
    const anchor = switched ? null : this.firstVisible(list);
    const anchorOffset = anchor ? anchor.offsetTop - list.scrollTop : 0;

    const wanted = [];
    wanted.push(this.historyMarker(buffer));
    for (const message of buffer.messages) {
      let node = this.nodes.get(message);
      if (!node) {
        node = messageNode(message);
        this.nodes.set(message, node);
      }
      wanted.push(node);
    }
    placeChildren(list, wanted);

    if (switched || atBottom || this.toEnd) list.scrollTop = list.scrollHeight;
    else if (anchor && anchor.isConnected) list.scrollTop = anchor.offsetTop - anchorOffset;
    this.toEnd = false;
  }

  /** The next drawing of the messages shows the newest (after sending). */
  scrollToEnd() {
    this.toEnd = true;
  }

  historyMarker(buffer) {
    this.marker ??= element('li', 'history-marker');
    let text = '';
    if (buffer.kind === 'channel') {
      if (buffer.loadingOlder) text = 'Loading older messages\u2026';
      else if (buffer.olderExhausted) text = 'Beginning of the history';
      else if (buffer.oldestMsgid()) text = 'Scroll up for older messages';
    }
    this.marker.textContent = text;
    return this.marker;
  }

  firstVisible(list) {
    for (const node of list.children) if (node.offsetTop + node.offsetHeight > list.scrollTop) return node;
    return null;
  }

  onScroll() {
    const list = this.$('messages');
    const buffer = this.client?.active;
    if (buffer && list.scrollTop < 40) this.actions.loadOlder(buffer);
  }

  renderMembers(client, buffer) {
    const members = buffer.kind === 'channel' ? buffer.sortedMembers(client.prefix.symbols, client.prefix.modes) : [];
    this.$('members-title').textContent = buffer.kind === 'channel' ? `${members.length} in ${buffer.name}` : '';
    // Kept by what they show, like the buffer list, so a click is not lost to
    // a redraw; those no longer shown are forgotten.
    const items = new Map();
    for (const member of members) {
      const label = `${member.prefix}${member.nick}`;
      const item = this.memberItems.get(label) ?? memberItem(member, label, this.actions);
      items.set(label, item);
    }
    this.memberItems = items;
    placeChildren(this.$('member-list'), [...items.values()]);
  }

  /** The connection banner: hidden while connected. */
  showStatus({ state, delayMs, reason }) {
    const banner = this.$('status');
    banner.hidden = state === 'open' || state === 'stopped';
    banner.dataset.state = state;
    this.$('retry').hidden = state !== 'waiting';
    this.$('status-text').textContent =
      state === 'waiting'
        ? `Disconnected${reason ? ` (${reason})` : ''}. Reconnecting in ${Math.ceil(delayMs / 1000)}s\u2026`
        : 'Connecting\u2026';
  }
}
