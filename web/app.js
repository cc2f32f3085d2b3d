// The page: a login form, then the chat. Wires the connection (WebSocket with
// reconnect), the IRC client state and the view together, and turns the
// user's clicks and keys into client actions.

import { ChatClient, completeNick } from './client.js';
import { Connection, defaultUrl } from './connection.js';
import { View } from './view.js';

const $ = (id) => document.getElementById(id);
const STORAGE_KEY = 'netkit-chat';

function remembered() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY)) ?? {};
  } catch {
    return {};
  }
}

function remember(client) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ nick: client.nick, channels: client.wantedChannels }));
  } catch {
    // Storage may be off (private mode): remembering is only a convenience.
  }
}

function splitChannels(text) {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((name) => (/^[#&]/.test(name) ? name : `#${name}`));
}

let client = null;
let connection = null;
let view = null;

function loginMessage(text) {
  $('login-message').textContent = text;
}

function showChat() {
  $('login').hidden = true;
  $('chat').hidden = false;
  $('input').focus();
}

function start(nick, channels) {
  view = new View(document, {
    select: (buffer) => {
      client.setActive(buffer);
      document.body.classList.remove('show-sidebar');
      $('input').focus();
    },
    close: (buffer) => client.close(buffer),
    query: (nick) => {
      client.setActive(client.buffer(nick, 'query'));
      document.body.classList.remove('show-members');
    },
    loadOlder: (buffer) => client.loadOlder(buffer),
  });
  connection = new Connection(defaultUrl(location), {
    onOpen: () => client.connected(),
    onLine: (line) => client.handleLine(line),
    onStatus: (status) => {
      view.showStatus(status);
      if (status.state === 'waiting') {
        client.disconnected(status.reason);
        if (!client.everRegistered) loginMessage(`Cannot reach the server; trying again in ${Math.ceil(status.delayMs / 1000)}s.`);
      }
    },
  });
  client = new ChatClient({
    nick,
    channels,
    send: (line) => connection.send(line),
    onChange: () => {
      view.schedule(client);
      if (client.registered) remember(client);
    },
    onRegistered: () => {
      connection.healthy();
      showChat();
    },
    onNickTaken: ({ nick: taken, suggestion, why }) => {
      $('login').hidden = false;
      $('chat').hidden = true;
      $('login-nick').value = suggestion;
      $('login-submit').textContent = `Use ${suggestion}`;
      loginMessage(`The nickname \u201c${taken}\u201d ${why}. Try \u201c${suggestion}\u201d or another one.`);
      $('login-nick').select();
    },
  });
  connection.start();
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const nick = $('login-nick').value.trim();
  if (!nick) return;
  loginMessage('Connecting\u2026');
  $('login-submit').textContent = 'Connect';
  if (client && connection.isOpen && !client.registered) {
    client.setNick(nick);
  } else if (!client) {
    start(nick, splitChannels($('login-channels').value));
  } else {
    client.nick = nick;
    connection.retryNow();
  }
});

$('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('input');
  const error = client.input(input.value);
  if (error) {
    client.info(client.active, 'error', error);
    view.schedule(client);
  } else {
    input.value = '';
    view.scrollToEnd();
  }
});

// Tab completes the nick being typed from the members of the channel shown.
let completion = null;
$('input').addEventListener('keydown', (event) => {
  if (event.key !== 'Tab' || event.shiftKey || !client) {
    if (event.key !== 'Shift') completion = null;
    return;
  }
  const input = $('input');
  const nicks = [...client.active.members.values()].map((member) => member.nick);
  if (client.active.kind === 'query') nicks.push(client.active.name);
  const next = completeNick(input.value, input.selectionStart, nicks, completion);
  if (!next) return;
  event.preventDefault();
  input.value = next.text;
  input.setSelectionRange(next.cursor, next.cursor);
  completion = next;
});

$('join-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = $('join-input').value.trim();
  if (!name) return;
  if (/^[#&]/.test(name)) client.join(name);
  else client.setActive(client.buffer(name, 'query'));
  $('join-input').value = '';
  document.body.classList.remove('show-sidebar');
});

$('retry').addEventListener('click', () => connection?.retryNow());

// On a phone the side panels slide over the messages: the buttons open them;
// a tap on the messages or Escape closes them.
function closePanels() {
  document.body.classList.remove('show-sidebar', 'show-members');
}
$('sidebar-toggle').addEventListener('click', (event) => {
  event.stopPropagation();
  document.body.classList.remove('show-members');
  document.body.classList.toggle('show-sidebar');
});
$('members-toggle').addEventListener('click', (event) => {
  event.stopPropagation();
  document.body.classList.remove('show-sidebar');
  document.body.classList.toggle('show-members');
});
$('messages').addEventListener('click', closePanels);
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') closePanels();
});

const saved = remembered();
if (saved.nick) $('login-nick').value = saved.nick;
if (Array.isArray(saved.channels) && saved.channels.length) $('login-channels').value = saved.channels.join(' ');
