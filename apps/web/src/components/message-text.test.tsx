import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { MessageText } from './message-text.js';

const render = (body: string) => renderToStaticMarkup(<MessageText body={body} />);

describe('MessageText', () => {
  it('escapes markup instead of rendering it', () => {
    const html = render('<img src=x onerror="alert(1)"><script>alert(2)</script>');
    expect(html).toBe(
      '<bdi class="message-text" dir="auto">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;</bdi>',
    );
  });

  it('renders http(s) links as anchors that open safely in a new tab', () => {
    expect(render('see https://example.com/a?b=1&c=2 now')).toBe(
      '<bdi class="message-text" dir="auto">see <a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">https://example.com/a?b=1&amp;c=2</a> now</bdi>',
    );
  });

  it('leaves javascript: and data: URLs as text', () => {
    const html = render('javascript:alert(1) data:text/html,x');
    expect(html).not.toContain('<a');
  });

  it('drops bidi controls so the message cannot flip what follows it', () => {
    expect(render('\u202Etxt.exe')).toBe('<bdi class="message-text" dir="auto">txt.exe</bdi>');
  });
});
