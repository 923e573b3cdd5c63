import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { mergeById, SearchableList } from './searchable-list.js';

interface Item {
  id: string;
  name: string;
}

const never = () => new Promise<never>(() => {});

const render = (extra: { toolbar?: React.ReactNode; searchTestId?: string } = {}) =>
  renderToStaticMarkup(
    <SearchableList<Item>
      fetchPage={never}
      searchLabel="Search things"
      listLabel="Things"
      listTestId="thing-list"
      renderItem={(item) => <li>{item.name}</li>}
      renderEmpty={() => <p className="sidebar-empty">Nothing</p>}
      {...extra}
    />,
  );

describe('SearchableList', () => {
  it('renders a labelled search box and a busy, named list before the first page arrives', () => {
    const html = render({ searchTestId: 'thing-search' });
    expect(html).toContain('<span class="visually-hidden">Search things</span>');
    expect(html).toContain('placeholder="Search things"');
    expect(html).toContain('data-testid="thing-search"');
    expect(html).toContain(
      '<ul class="directory-list" aria-label="Things" aria-busy="true" data-testid="thing-list"></ul>',
    );
    expect(html).not.toContain('Nothing');
    expect(html).not.toContain('role="alert"');
    expect(html).not.toContain('ghost-button wide');
  });

  it('puts the search box in a toolbar only when toolbar controls are given', () => {
    expect(render()).not.toContain('directory-toolbar');
    expect(render()).not.toMatch(/<input[^>]*data-testid/);
    const html = render({ toolbar: <button type="button">New</button> });
    expect(html).toMatch(/<div class="directory-toolbar"><label class="search-field">.*<\/label><button/);
  });
});

describe('mergeById', () => {
  it('keeps the first list and appends only the ids it does not hold', () => {
    const a = { id: 'a', name: 'A' };
    const b = { id: 'b', name: 'B' };
    const staleB = { id: 'b', name: 'old B' };
    const c = { id: 'c', name: 'C' };
    expect(mergeById([a, b], [staleB, c])).toEqual([a, b, c]);
  });
});
