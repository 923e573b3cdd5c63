import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { isMisleadingLink, safeUrl, withinMarkdownBudget } from '../lib/markdown.js';
import { LINK_REL, MessageText } from './message-text.js';

const render = (body: string) => renderToStaticMarkup(<MessageText body={body} />);
const wrap = (inner: string) => `<div class="message-text" dir="auto">${inner}</div>`;
const link = (href: string, text = href) =>
  `<a href="${href}" target="_blank" rel="${LINK_REL}" title="${href}">${text}</a>`;

describe('MessageText', () => {
  it('escapes markup instead of rendering it', () => {
    const html = render('<img src=x onerror="alert(1)"><script>alert(2)</script>');
    expect(html).toBe(
      wrap('<p>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;</p>'),
    );
  });

  it('renders the Markdown subset as elements', () => {
    expect(render('**bold** _it_ ~~gone~~ `x < y`')).toBe(
      wrap('<p><strong>bold</strong> <em>it</em> <del>gone</del> <code>x &lt; y</code></p>'),
    );
    expect(render('> quoted\n\n- one\n- two\n\n1. first')).toBe(
      wrap(
        '<blockquote>\n<p>quoted</p>\n</blockquote>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n<ol>\n<li>first</li>\n</ol>',
      ),
    );
    expect(render('```js\nconst a = 1;\n```')).toBe(
      wrap('<pre><code class="language-js">const a = 1;\n</code></pre>'),
    );
  });

  it('keeps what is outside the subset as the characters typed', () => {
    expect(render('# not a heading')).toBe(wrap('<p># not a heading</p>'));
    expect(render('&lt;b&gt; &amp;')).toBe(wrap('<p>&amp;lt;b&amp;gt; &amp;amp;</p>'));
    // No image is ever loaded.
    expect(render('![pixel](https://tracker.example/p.png)')).not.toContain('<img');
    expect(render('| a | b |\n|---|---|\n| 1 | 2 |')).not.toContain('<table');
    expect(render('- [x] done')).not.toContain('<input');
  });

  it('shows HTML inside code as code text', () => {
    expect(render('`<img src=x onerror=alert(1)>`')).toBe(
      wrap('<p><code>&lt;img src=x onerror=alert(1)&gt;</code></p>'),
    );
    expect(render('```\n<script>alert(1)</script>\n```')).toBe(
      wrap('<pre><code>&lt;script&gt;alert(1)&lt;/script&gt;\n</code></pre>'),
    );
  });

  it('renders http(s) links as anchors that open safely in a new tab', () => {
    expect(render('see https://example.com/a?b=1&c=2 now')).toBe(
      wrap(`<p>see ${link('https://example.com/a?b=1&amp;c=2')} now</p>`),
    );
    expect(render('[the docs](https://example.com/docs)')).toBe(
      wrap(`<p>${link('https://example.com/docs', 'the docs')}</p>`),
    );
  });

  it('leaves javascript:, data:, vbscript: and relative links as text', () => {
    for (const body of [
      'javascript:alert(1) data:text/html,x',
      '[click me](javascript:alert(1))',
      '[click me](  JaVaScRiPt:alert(1) )',
      '[click me](data:text/html;base64,PHNjcmlwdD4=)',
      '[click me](vbscript:msgbox(1))',
      '<javascript:alert(1)>',
      '[click me](/relative) [click me](//evil.example/x)',
    ]) {
      expect(render(body), body).not.toContain('<a');
    }
    expect(render('[click me](javascript:alert(1))')).toBe(
      wrap('<p><span class="refused-link">click me</span></p>'),
    );
  });

  it('shows the real target of a link whose text names another site', () => {
    expect(render('[https://bank.example/login](https://evil.example/phish)')).toBe(
      wrap(
        '<p><a href="https://evil.example/phish" target="_blank" rel="noopener noreferrer nofollow" title="https://evil.example/phish" data-misleading="true">https://evil.example/phish</a></p>',
      ),
    );
    expect(render('[bank.example](https://evil.example/)')).toContain('>https://evil.example/</a>');
    // Text naming the same site, or no site at all, stays as written.
    expect(render('[example.com/docs](https://www.example.com/docs)')).toContain('>example.com/docs</a>');
    expect(isMisleadingLink('read this', 'https://evil.example/')).toBe(false);
  });

  it('renders emphasis bombs and deep nesting as plain text in bounded time', () => {
    const bombs = [
      '*_'.repeat(2000),
      '_a __a '.repeat(570),
      '*'.repeat(1000) + 'a' + '*'.repeat(1000),
      '['.repeat(4000),
      '>'.repeat(4000),
      '> '.repeat(2000),
      '- '.repeat(2000),
      Array.from({ length: 200 }, (_, i) => `${' '.repeat(i * 2)}- a`).join('\n'),
    ];
    render('warm up **the** parser');
    for (const bomb of bombs) {
      const started = performance.now();
      const html = render(bomb);
      expect(performance.now() - started, bomb.slice(0, 12)).toBeLessThan(250);
      expect(withinMarkdownBudget(bomb)).toBe(false);
      expect(html.startsWith('<div class="message-text plain" dir="auto">')).toBe(true);
    }
    // Ordinary Markdown stays within the budget.
    expect(withinMarkdownBudget('**a** _b_ ~~c~~\n> quote\n  - nested\n    - twice')).toBe(true);
  });

  it('allows only absolute http(s) and mailto URLs', () => {
    expect(safeUrl('https://example.com')).toBe('https://example.com/');
    expect(safeUrl('mailto:ada@example.com')).toBe('mailto:ada@example.com');
    expect(safeUrl('mailto:javascript:alert(1)')).toBe('');
    expect(safeUrl('javascript:alert(1)')).toBe('');
    expect(safeUrl('data:text/html,x')).toBe('');
    expect(safeUrl('/local')).toBe('');
  });

  it('drops bidi controls so the message cannot flip what follows it', () => {
    expect(render('\u202Etxt.exe')).toBe(wrap('<p>txt.exe</p>'));
  });
});
