import { asUserId, LIMITS } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import {
  completeMention,
  mentionCandidates,
  mentionQueryAt,
  mentionsAfterRead,
  mentionsIn,
  splitMentions,
} from './mentions.js';

const ada = { id: asUserId('u-ada'), username: 'ada' };
const ann = { id: asUserId('u-ann'), username: 'ann' };
const anna = { id: asUserId('u-anna'), username: 'anna' };
const bob = { id: asUserId('u-bob'), username: 'bob.smith' };
const members = [ada, ann, anna, bob];

describe('mentions', () => {
  it('finds members mentioned as words, as ids, in order, deduplicated, without the sender', () => {
    expect(mentionsIn('hi @anna and @ANN, @anna again', members, ada.id)).toEqual([anna.id, ann.id]);
    expect(mentionsIn('@bob.smith: look', members, ada.id)).toEqual([bob.id]);
    expect(mentionsIn('mail ann@example.com or @annabel', members, ada.id)).toEqual([]);
    expect(mentionsIn('@ada talks to herself', members, ada.id)).toEqual([]);
    expect(mentionsIn('`@ann`', members, undefined)).toEqual([ann.id]);
    const many = Array.from({ length: 60 }, (_, i) => ({ id: asUserId(`u${i}`), username: `user${i}x` }));
    expect(mentionsIn(many.map((m) => `@${m.username}`).join(' '), many, undefined)).toHaveLength(
      LIMITS.maxMentions,
    );
  });

  it('detects the @query at the caret only at the start of a word', () => {
    expect(mentionQueryAt('hello @an', 9)).toEqual({ start: 6, query: 'an' });
    expect(mentionQueryAt('@', 1)).toEqual({ start: 0, query: '' });
    expect(mentionQueryAt('mail a@b', 8)).toBeUndefined();
    expect(mentionQueryAt('hello @an there', 15)).toBeUndefined();
    expect(mentionQueryAt('(@bo', 4)).toEqual({ start: 1, query: 'bo' });
  });

  it('suggests members starting with the query first, never the sender', () => {
    expect(mentionCandidates(members, 'an', ada.id).map((m) => m.username)).toEqual(['ann', 'anna']);
    expect(mentionCandidates(members, 'mit', ada.id).map((m) => m.username)).toEqual(['bob.smith']);
    expect(mentionCandidates(members, '', ada.id)).toHaveLength(3);
  });

  it('completes the query with the name and a space', () => {
    expect(completeMention('hi @an', 3, 6, 'anna')).toEqual({ text: 'hi @anna ', caret: 9 });
    expect(completeMention('hi @an there', 3, 6, 'ann')).toEqual({ text: 'hi @ann there', caret: 8 });
  });

  it('splits text into runs and mentions of the mentioned ids only', () => {
    const mentioned = new Map([['anna', anna.id]]);
    expect(splitMentions('hi @anna and @ann!', mentioned)).toEqual([
      { kind: 'text', text: 'hi ' },
      { kind: 'mention', text: '@anna', id: anna.id },
      { kind: 'text', text: ' and @ann!' },
    ]);
    expect(splitMentions('@Anna', mentioned)).toEqual([{ kind: 'mention', text: '@Anna', id: anna.id }]);
    expect(splitMentions('no one', mentioned)).toEqual([{ kind: 'text', text: 'no one' }]);
  });

  it('moves mention counts with the read marker', () => {
    expect(mentionsAfterRead({ unreadMentions: 2, mentionSeqs: [4, 9] }, 5, 10)).toEqual({
      unreadMentions: 1,
      mentionSeqs: [9],
    });
    // Unlisted older mentions go once the marker passes the oldest listed one.
    expect(mentionsAfterRead({ unreadMentions: 5, mentionSeqs: [8, 9] }, 3, 10)).toEqual({
      unreadMentions: 5,
      mentionSeqs: [8, 9],
    });
    expect(mentionsAfterRead({ unreadMentions: 5, mentionSeqs: [8, 9] }, 8, 10)).toEqual({
      unreadMentions: 1,
      mentionSeqs: [9],
    });
    expect(mentionsAfterRead({ unreadMentions: 5, mentionSeqs: [8, 9] }, 10, 10)).toEqual({
      unreadMentions: 0,
      mentionSeqs: [],
    });
  });
});
