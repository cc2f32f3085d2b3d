// The page puts network text into the document only as text. This keeps the
// HTML-parsing and code-running sinks out of its source altogether, so a
// later change cannot start using one without this test saying so.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../web');
const SINKS = [
  /\binnerHTML\b/,
  /\bouterHTML\b/,
  /\binsertAdjacentHTML\b/,
  /\bdocument\.write/,
  /\beval\s*\(/,
  /\bnew\s+Function\b/,
  /\bcreateContextualFragment\b/,
  /\bsetAttribute\(\s*['"]on/,
  /\bsetTimeout\(\s*['"`]/,
  /\bsrcdoc\b/,
];

test('no script in the page uses an HTML or code sink', () => {
  const scripts = readdirSync(WEB).filter((name) => name.endsWith('.js'));
  assert.ok(scripts.includes('app.js') && scripts.length >= 5, `the page's modules: ${scripts}`);
  for (const name of scripts) {
    const source = readFileSync(path.join(WEB, name), 'utf8');
    for (const sink of SINKS) assert.doesNotMatch(source, sink, `web/${name} uses ${sink}`);
  }
});

test('the page has no inline script or style and declares a strict CSP', () => {
  const html = readFileSync(path.join(WEB, 'index.html'), 'utf8');
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file');
  assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handlers');
  assert.doesNotMatch(html, /<style|\sstyle=/i, 'no inline style');
  assert.match(html, /http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'/);
});
