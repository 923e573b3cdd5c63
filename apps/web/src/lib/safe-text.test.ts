import { describe, expect, it } from 'vitest';
import { hasBidiControls, linkify, neutraliseBidi, safeHref } from './safe-text.js';

describe('linkify', () => {
  it('returns plain text as one text segment', () => {
    expect(linkify('hello there')).toEqual([{ kind: 'text', text: 'hello there' }]);
  });

  it('turns http and https URLs into links and keeps the text around them', () => {
    expect(linkify('see https://example.com/a?b=1#c and http://x.org now')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.com/a?b=1#c', href: 'https://example.com/a?b=1#c' },
      { kind: 'text', text: ' and ' },
      { kind: 'link', text: 'http://x.org', href: 'http://x.org/' },
      { kind: 'text', text: ' now' },
    ]);
  });

  it.each([
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox(1)',
    'file:///etc/passwd',
    'ftp://example.com',
    '//evil.example/x',
  ])('keeps %s as text', (payload) => {
    expect(linkify(payload).every((s) => s.kind === 'text')).toBe(true);
  });

  it('leaves trailing punctuation and an unbalanced bracket outside the link', () => {
    expect(linkify('(see https://a.example/x).')).toEqual([
      { kind: 'text', text: '(see ' },
      { kind: 'link', text: 'https://a.example/x', href: 'https://a.example/x' },
      { kind: 'text', text: ').' },
    ]);
  });

  it('keeps balanced parentheses inside a link', () => {
    const [, link] = linkify('x https://en.wikipedia.org/wiki/Foo_(bar) y');
    expect(link).toEqual({
      kind: 'link',
      text: 'https://en.wikipedia.org/wiki/Foo_(bar)',
      href: 'https://en.wikipedia.org/wiki/Foo_(bar)',
    });
  });

  it('stops a link at quotes and angle brackets so markup cannot ride along', () => {
    const segments = linkify('<a href="https://evil.example/x" onclick="alert(1)">');
    expect(segments.filter((s) => s.kind === 'link')).toEqual([
      { kind: 'link', text: 'https://evil.example/x', href: 'https://evil.example/x' },
    ]);
    expect(segments.map((s) => s.text).join('')).toBe('<a href="https://evil.example/x" onclick="alert(1)">');
  });

  it('does not link a URL glued to a word', () => {
    expect(linkify('xhttps://a.example').every((s) => s.kind === 'text')).toBe(true);
  });

  it('links the http URL after a javascript: prefix but not the prefix', () => {
    const segments = linkify('javascript:https://a.example');
    expect(segments[0]).toEqual({ kind: 'text', text: 'javascript:' });
    expect(segments[1]?.kind).toBe('link');
  });

  it('removes bidi controls from text and links', () => {
    const segments = linkify('\u202Eevil https://a.example/\u202Ex');
    expect(segments.map((s) => s.text).join('')).not.toMatch(/[\u202A-\u202E\u2066-\u2069]/);
  });
});

describe('safeHref', () => {
  it('accepts http and https with a host', () => {
    expect(safeHref('https://a.example')).toBe('https://a.example/');
    expect(safeHref('HTTP://A.EXAMPLE/x')).toBe('http://a.example/x');
  });

  it('rejects other schemes and junk', () => {
    expect(safeHref('javascript:alert(1)')).toBeUndefined();
    expect(safeHref('mailto:a@b.c')).toBeUndefined();
    expect(safeHref('not a url')).toBeUndefined();
  });
});

describe('neutraliseBidi', () => {
  it('strips embeddings, overrides and isolates', () => {
    const all = '\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069';
    expect(neutraliseBidi(`a${all}b`)).toBe('ab');
    expect(hasBidiControls(`a${all}b`)).toBe(true);
  });

  it('keeps ordinary right-to-left text and implicit marks', () => {
    const text = 'שלום \u200F world \u200E مرحبا';
    expect(neutraliseBidi(text)).toBe(text);
    expect(hasBidiControls(text)).toBe(false);
  });
});
