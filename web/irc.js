// IRC messages: parsing a line (with IRCv3 tags) into an object and writing
// one back, plus the small helpers every IRC client needs (sources, case
// mapping, channel names). Pure functions: no DOM, no network.

const TAG_UNESCAPES = { ':': ';', s: ' ', '\\': '\\', r: '\r', n: '\n' };
const TAG_ESCAPES = { ';': '\\:', ' ': '\\s', '\\': '\\\\', '\r': '\\r', '\n': '\\n' };

/** Undoes IRCv3 tag value escaping; an unknown escape keeps its character,
 * a lone trailing backslash is dropped. */
export function unescapeTagValue(value) {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    i++;
    if (i < value.length) out += TAG_UNESCAPES[value[i]] ?? value[i];
  }
  return out;
}

export function escapeTagValue(value) {
  return value.replace(/[; \\\r\n]/g, (ch) => TAG_ESCAPES[ch]);
}

/**
 * Parses one IRC line (without CR LF) into
 * `{ tags: {name: value}, source: string|null, command, params: [] }`.
 * The command is upper-cased. A tag without a value has the value ''.
 * Returns null for an empty or malformed line.
 */
export function parseLine(line) {
  let rest = line.replace(/[\r\n]+$/, '');
  const tags = {};
  let source = null;
  if (rest.startsWith('@')) {
    const end = rest.indexOf(' ');
    if (end < 0) return null;
    for (const part of rest.slice(1, end).split(';')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq);
      tags[name] = eq < 0 ? '' : unescapeTagValue(part.slice(eq + 1));
    }
    rest = rest.slice(end + 1).replace(/^ +/, '');
  }
  if (rest.startsWith(':')) {
    const end = rest.indexOf(' ');
    if (end < 0) return null;
    source = rest.slice(1, end);
    rest = rest.slice(end + 1).replace(/^ +/, '');
  }
  const params = [];
  while (rest) {
    if (rest.startsWith(':')) {
      params.push(rest.slice(1));
      break;
    }
    const end = rest.indexOf(' ');
    if (end < 0) {
      params.push(rest);
      break;
    }
    params.push(rest.slice(0, end));
    rest = rest.slice(end + 1).replace(/^ +/, '');
  }
  const command = params.shift();
  if (!command) return null;
  return { tags, source, command: command.toUpperCase(), params };
}

/**
 * Writes a message as one IRC line without CR LF. Only the last parameter
 * may contain spaces or start with ':'; no part may contain CR, LF or NUL,
 * so text typed by a user can never become a second command.
 */
export function formatLine({ tags = {}, source = null, command, params = [] }) {
  const parts = [];
  const tagText = Object.entries(tags)
    .map(([name, value]) => (value === '' || value == null ? name : `${name}=${escapeTagValue(String(value))}`))
    .join(';');
  if (tagText) parts.push(`@${tagText}`);
  if (source) parts.push(`:${source}`);
  if (!/^[A-Za-z]+$|^[0-9]{3}$/.test(command)) throw new Error(`invalid IRC command: ${command}`);
  parts.push(command);
  params.forEach((param, i) => {
    const text = String(param);
    if (/[\r\n\0]/.test(text)) throw new Error('an IRC parameter cannot contain CR, LF or NUL');
    const last = i === params.length - 1;
    if (!last && (text === '' || text.includes(' ') || text.startsWith(':'))) {
      throw new Error(`only the last IRC parameter may be empty, contain spaces or start with ':': ${text}`);
    }
    parts.push(last && (text === '' || text.includes(' ') || text.startsWith(':')) ? `:${text}` : text);
  });
  return parts.join(' ');
}

/** Shorthand: `command('PRIVMSG', '#chan', 'hello there')`. */
export function command(name, ...params) {
  return formatLine({ command: name, params });
}

/** `nick!user@host` → `{ nick, user, host }`; a server name is a nick-less host. */
export function parseSource(source) {
  if (!source) return { nick: '', user: '', host: '' };
  const bang = source.indexOf('!');
  const at = source.indexOf('@', bang < 0 ? 0 : bang);
  if (bang < 0 && at < 0) {
    return source.includes('.') ? { nick: '', user: '', host: source } : { nick: source, user: '', host: '' };
  }
  const nickEnd = bang >= 0 ? bang : at;
  return {
    nick: source.slice(0, nickEnd),
    user: bang >= 0 ? source.slice(bang + 1, at < 0 ? undefined : at) : '',
    host: at >= 0 ? source.slice(at + 1) : '',
  };
}

/** Lower-cases a nick or channel name as the server's CASEMAPPING does. */
export function foldCase(name, casemapping = 'rfc1459') {
  const lower = name.toLowerCase();
  if (casemapping === 'ascii') return lower;
  const table = casemapping === 'strict-rfc1459' ? { '[': '{', ']': '}', '\\': '|' } : { '[': '{', ']': '}', '\\': '|', '~': '^' };
  return lower.replace(/[[\]\\~]/g, (ch) => table[ch] ?? ch);
}

export function isChannel(name, chantypes = '#&') {
  return name.length > 1 && chantypes.includes(name[0]);
}

/** Splits a CTCP ACTION (`/me`) out of a message text: `{ action, text }`. */
export function parseAction(text) {
  const match = /^\x01ACTION(?: (.*?))?\x01?$/.exec(text);
  return match ? { action: true, text: match[1] ?? '' } : { action: false, text };
}

/** Parses ISUPPORT tokens (`KEY=value`, `KEY`, `-KEY`) into a map. */
export function parseIsupport(tokens, into = {}) {
  for (const token of tokens) {
    if (token.startsWith('-')) {
      delete into[token.slice(1)];
      continue;
    }
    const eq = token.indexOf('=');
    if (eq < 0) into[token] = '';
    else into[token.slice(0, eq)] = token.slice(eq + 1).replace(/\\x([0-9A-Fa-f]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  }
  return into;
}

/** `(ov)@+` → `{ modes: 'ov', symbols: '@+' }`. */
export function parsePrefix(value) {
  const match = /^\(([^)]*)\)(.*)$/.exec(value || '');
  return match ? { modes: match[1], symbols: match[2] } : { modes: 'ov', symbols: '@+' };
}
