import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ChatError,
  closeCodeOf,
  ERROR_CODE_LIST,
  ERROR_CODES,
  errorCodeOfClose,
  httpStatusOf,
  isErrorBody,
  toChatError,
} from './index.js';

const protocolDoc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
/** The cells of every Markdown table row in docs/protocol.md. */
const tableRows = protocolDoc
  .split('\n')
  .filter((line) => line.trim().startsWith('|'))
  .map((line) =>
    line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim()),
  );

describe('error codes', () => {
  it.each(ERROR_CODE_LIST)('documents %s in docs/protocol.md with its status', (code) => {
    const cells = tableRows.find((row) => row[0] === `\`${code}\``);
    expect(cells, `docs/protocol.md has no row for ${code}`).toBeDefined();
    expect(cells?.[1]).toBe(String(httpStatusOf(code)));
  });

  it('gives every close code to at most one error code', () => {
    const closeCodes = ERROR_CODE_LIST.map(
      (c) => (ERROR_CODES[c] as { closeCode?: number }).closeCode,
    ).filter((c) => c !== undefined);
    expect(new Set(closeCodes).size).toBe(closeCodes.length);
    for (const code of ERROR_CODE_LIST) {
      const close = closeCodeOf(code);
      if (close !== 1008) expect(errorCodeOfClose(close)).toBe(code);
    }
  });

  it('turns unknown failures into internal without leaking their message', () => {
    const err = toChatError(new Error('db password is hunter2'));
    expect(err.code).toBe('internal');
    expect(err.message).not.toContain('hunter2');
    expect(err.toBody()).toEqual({ error: { code: 'internal', message: 'Internal error.' } });
  });

  it('round-trips a ChatError through its JSON body', () => {
    const original = new ChatError('validation_failed', 'bad', { fields: [{ field: '/x', message: 'no' }] });
    const body = JSON.parse(JSON.stringify(original.toBody()));
    expect(isErrorBody(body)).toBe(true);
    const back = toChatError(body);
    expect(back.code).toBe('validation_failed');
    expect(back.fields).toEqual([{ field: '/x', message: 'no' }]);
    expect(back.status).toBe(400);
  });
});
