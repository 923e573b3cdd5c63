/**
 * The search benchmark's corpus: users, their conversations and a year of messages, made
 * from a seed so that every run (and every backend in a run) stores the same data.
 *
 * - Conversations: one channel everyone is in (the busiest: a third of all messages), more
 *   channels whose sizes fall off as a power law, small groups, and many DMs.
 * - Messages: mostly English-like text whose words follow Zipf's law over a vocabulary of
 *   common words and a long tail of made-up ones; some French/German/Spanish text with
 *   accents; Chinese, Japanese and Korean text; emoji here and there. Time runs over the
 *   year before the corpus's end, in order.
 */
import { seeded } from '@relay-chat/testkit';

export interface CorpusSize {
  users: number;
  messages: number;
  seed: number;
}

export interface CorpusConversation {
  kind: 'channel' | 'group' | 'dm';
  /** Index into users. */
  members: number[];
  /** Share of all messages, before normalising. */
  weight: number;
}

export interface CorpusMessage {
  conv: number;
  sender: number;
  body: string;
  ts: number;
}

export const CORPUS_END = Date.UTC(2026, 10, 1);
const YEAR_MS = 365 * 24 * 3600 * 1000;

/** Draws ranks 0..n-1 with probability ∝ 1/(rank+1)^s, by inverting the cumulative sums. */
export class Zipf {
  private readonly cumulative: Float64Array;
  constructor(
    n: number,
    s: number,
    private readonly random: () => number,
  ) {
    this.cumulative = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      sum += 1 / (i + 1) ** s;
      this.cumulative[i] = sum;
    }
  }
  next(): number {
    const x = this.random() * this.cumulative[this.cumulative.length - 1]!;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

const COMMON = `the be to of and a in that have it for not on with he as you do at this but his by from
they we say her she or an will my one all would there their what so up out if about who get which
go me when make can like time no just him know take people into year your good some could them see
other than then now look only come its over think also back after use two how our work first well
way even new want because any these give day most us deploy release build test review merge branch
server client message channel thread reply meeting standup sprint ticket issue bug fix patch
design draft report budget invoice customer contract launch roadmap metrics latency database cache
queue worker cluster replica backup restore incident outage alert monitor dashboard login password
token session browser mobile android iphone laptop coffee lunch dinner weekend holiday vacation
birthday party music movie football weather morning tonight tomorrow yesterday thanks please sorry
great awesome nice cool maybe sure okay yes agree question answer idea plan schedule deadline
friday monday tuesday wednesday thursday january february march april june july august september
october november december kubernetes postgres redis nginx docker github jenkins grafana terraform`
  .split(/\s+/)
  .filter((w) => w !== '');

const ACCENTED = `café crème déjà vu naïve façade résumé élève être où très à côté garçon français
über straße grüße schön müde fräulein mädchen größe björk señor mañana niño corazón canción
pequeño está también información reunión años cumpleaños déploiement réunion première`
  .split(/\s+/)
  .filter((w) => w !== '');

const SYLLABLES = [
  ...'b c d f g h j k l m n p r s t v w z br cr dr fr gr pr tr st sp sk pl bl cl gl ch sh th'.split(' '),
];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'ou', 'io', 'y'];
const CODAS = ['', '', '', 'n', 'r', 's', 't', 'l', 'nd', 'ng', 'st', 'rk', 'x'];

const EMOJI = ['🎉', '🚀', '👍', '😂', '❤️', '🔥', '✅', '🙏', '😅', '🤔', '👀', '💯'];

/** The vocabulary: common words first (the head of the Zipf curve), then made-up ones. */
function vocabulary(random: () => number, size: number): string[] {
  const words = [...COMMON];
  const seen = new Set(words);
  while (words.length < size) {
    const parts = 1 + Math.floor(random() * 3);
    let w = '';
    for (let p = 0; p < parts; p++) {
      w += SYLLABLES[Math.floor(random() * SYLLABLES.length)]!;
      w += VOWELS[Math.floor(random() * VOWELS.length)]!;
    }
    w += CODAS[Math.floor(random() * CODAS.length)]!;
    if (w.length < 3 || seen.has(w)) continue;
    seen.add(w);
    words.push(w);
  }
  return words;
}

/** CJK character pools: common Han first, then kana, then Hangul syllables. */
function codePoints(from: number, count: number, step = 1): string[] {
  return Array.from({ length: count }, (_, i) => String.fromCodePoint(from + i * step));
}

export class Corpus {
  readonly conversations: CorpusConversation[] = [];
  /** Each user's conversations (indexes). */
  readonly conversationsOf: number[][];
  private readonly random: () => number;
  private readonly words: string[];
  private readonly wordZipf: Zipf;
  private readonly accentZipf: Zipf;
  private readonly han = codePoints(0x4e00, 3000, 7);
  private readonly hanZipf: Zipf;
  private readonly kana = [...codePoints(0x3042, 80), ...codePoints(0x30a2, 80)];
  private readonly hangul = codePoints(0xac00, 1500, 7);
  private readonly hangulZipf: Zipf;
  private readonly convCumulative: Float64Array;

  constructor(readonly size: CorpusSize) {
    this.random = seeded(size.seed);
    const r = this.random;
    this.words = vocabulary(r, 30_000);
    this.wordZipf = new Zipf(this.words.length, 1.07, r);
    this.accentZipf = new Zipf(ACCENTED.length, 1, r);
    this.hanZipf = new Zipf(this.han.length, 1, r);
    this.hangulZipf = new Zipf(this.hangul.length, 1, r);
    const n = size.users;
    const everyone = Array.from({ length: n }, (_, i) => i);
    this.conversations.push({ kind: 'channel', members: everyone, weight: 0.33 });
    // More channels: sizes ∝ 1/rank, from half the users down to a handful.
    const channels = Math.max(2, Math.round(n / 25));
    for (let k = 1; k <= channels; k++) {
      const members = this.sample(everyone, Math.max(5, Math.round(n / 2 / k)));
      this.conversations.push({ kind: 'channel', members, weight: 0.27 / channels / Math.sqrt(k) });
    }
    const groups = Math.round(n / 3);
    for (let g = 0; g < groups; g++) {
      this.conversations.push({
        kind: 'group',
        members: this.sample(everyone, 3 + Math.floor(r() * 8)),
        weight: 0.2 / groups,
      });
    }
    const dms = n * 3;
    const pairs = new Set<string>();
    while (pairs.size < dms) {
      const a = Math.floor(r() * n);
      const b = Math.floor(r() * n);
      if (a === b) continue;
      const key = a < b ? `${a}-${b}` : `${b}-${a}`;
      if (pairs.has(key)) continue;
      pairs.add(key);
      this.conversations.push({ kind: 'dm', members: [a, b], weight: 0.2 / dms });
    }
    this.conversationsOf = Array.from({ length: n }, () => []);
    this.conversations.forEach((c, i) => {
      for (const m of c.members) this.conversationsOf[m]!.push(i);
    });
    this.convCumulative = new Float64Array(this.conversations.length);
    let sum = 0;
    this.conversations.forEach((c, i) => {
      sum += c.weight;
      this.convCumulative[i] = sum;
    });
  }

  /** The messages in time order, `batch` at a time. */
  *messages(batch: number): Generator<CorpusMessage[]> {
    const total = this.size.messages;
    const start = CORPUS_END - YEAR_MS;
    let out: CorpusMessage[] = [];
    for (let i = 0; i < total; i++) {
      const conv = this.pickConversation();
      const members = this.conversations[conv]!.members;
      out.push({
        conv,
        sender: members[Math.floor(this.random() * members.length)]!,
        body: this.body(),
        ts: start + Math.floor((i / total) * YEAR_MS),
      });
      if (out.length === batch) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  }

  /** One message body in one of the corpus's languages. */
  body(): string {
    const r = this.random();
    if (r < 0.6) return this.latin(false);
    if (r < 0.72) return this.latin(true);
    if (r < 0.82) return this.chinese();
    if (r < 0.92) return this.japanese();
    return this.korean();
  }

  private latin(accented: boolean): string {
    const length = 3 + Math.floor(this.random() ** 2 * 22);
    const words: string[] = [];
    for (let i = 0; i < length; i++) {
      const w =
        accented && this.random() < 0.4
          ? ACCENTED[this.accentZipf.next()]!
          : this.words[this.wordZipf.next()]!;
      words.push(i === 0 ? w[0]!.toUpperCase() + w.slice(1) : w);
    }
    let text = words.join(' ');
    if (this.random() < 0.5) text += this.random() < 0.7 ? '.' : '?';
    if (this.random() < 0.08) text += ` ${EMOJI[Math.floor(this.random() * EMOJI.length)]}`;
    return text;
  }

  private chinese(): string {
    let text = '';
    const length = 6 + Math.floor(this.random() * 30);
    for (let i = 0; i < length; i++) text += this.han[this.hanZipf.next()]!;
    return text + (this.random() < 0.5 ? '。' : '');
  }

  private japanese(): string {
    let text = '';
    const length = 6 + Math.floor(this.random() * 30);
    for (let i = 0; i < length; i++) {
      text +=
        this.random() < 0.5
          ? this.han[this.hanZipf.next()]!
          : this.kana[Math.floor(this.random() * this.kana.length)]!;
    }
    return text;
  }

  private korean(): string {
    const words: string[] = [];
    const length = 2 + Math.floor(this.random() * 8);
    for (let i = 0; i < length; i++) {
      let w = '';
      const syllables = 1 + Math.floor(this.random() * 4);
      for (let s = 0; s < syllables; s++) w += this.hangul[this.hangulZipf.next()]!;
      words.push(w);
    }
    return words.join(' ');
  }

  private pickConversation(): number {
    const c = this.convCumulative;
    const x = this.random() * c[c.length - 1]!;
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (c[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private sample(from: number[], k: number): number[] {
    const copy = [...from];
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(this.random() * (copy.length - i));
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, k).sort((a, b) => a - b);
  }
}
