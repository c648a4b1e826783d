/**
 * Schedules of the agent's jobs: a 5-field cron expression (`0 2 * * *`, minute hour day-of-month
 * month day-of-week, in UTC) or an interval (`@every 15m`). Pure: parse once, then ask for the next
 * time after a given instant. Day-of-month and day-of-week follow cron's rule: when both are
 * restricted, a day matching either is due.
 */

export type Schedule =
  | { readonly kind: 'every'; readonly text: string; readonly everyMs: number }
  | {
      readonly kind: 'cron';
      readonly text: string;
      readonly minute: ReadonlySet<number>;
      readonly hour: ReadonlySet<number>;
      readonly dom: ReadonlySet<number>;
      readonly month: ReadonlySet<number>;
      readonly dow: ReadonlySet<number>;
      readonly domAny: boolean;
      readonly dowAny: boolean;
    };

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as 90s, 15m, 24h or 7d, in milliseconds; undefined when it is not one. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2]!]!;
}

const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
] as const;

const NAMES: Record<number, string[]> = {
  3: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  4: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
};

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

export class ScheduleError extends Error {}

function field(text: string, index: number): Set<number> {
  const { name, min, max } = FIELDS[index]!;
  const out = new Set<number>();
  const value = (s: string): number => {
    const named = NAMES[index]?.indexOf(s.toLowerCase());
    if (named !== undefined && named >= 0) return named + (index === 3 ? 1 : 0);
    if (!/^\d+$/.test(s)) throw new ScheduleError(`the ${name} field has "${s}", not a number`);
    const n = Number(s);
    if (n < min || n > max) throw new ScheduleError(`the ${name} field has ${n}, outside ${min}-${max}`);
    return n;
  };
  for (const part of text.split(',')) {
    const [range, stepText, extra] = part.split('/');
    if (extra !== undefined || range === undefined || range === '')
      throw new ScheduleError(`the ${name} field has "${part}", which is not a value, range or step`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1)
        throw new ScheduleError(`the ${name} field has the step "${stepText}", not a positive number`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = min;
      hi = max;
    } else if (range.includes('-')) {
      const [a, b, more] = range.split('-');
      if (more !== undefined || !a || !b)
        throw new ScheduleError(`the ${name} field has the range "${range}"`);
      lo = value(a);
      hi = value(b);
      if (lo > hi) throw new ScheduleError(`the ${name} field has the range ${range}, which runs backwards`);
    } else {
      lo = value(range);
      hi = stepText !== undefined ? max : lo;
    }
    for (let v = lo; v <= hi; v += step) out.add(index === 4 && v === 7 ? 0 : v);
  }
  return out;
}

/** Parses a schedule; throws ScheduleError saying what is wrong. */
export function parseSchedule(input: string): Schedule {
  const text = input.trim();
  if (text.startsWith('@every')) {
    const rest = text.slice('@every'.length).trim();
    const ms = parseDurationMs(rest);
    if (ms === undefined)
      throw new ScheduleError(
        `"@every ${rest}" needs a duration such as @every 15m, @every 1h or @every 30s`,
      );
    if (ms < 1000) throw new ScheduleError(`@every ${rest} is shorter than a second`);
    return { kind: 'every', text, everyMs: ms };
  }
  const expanded = MACROS[text] ?? text;
  if (expanded.startsWith('@'))
    throw new ScheduleError(
      `unknown macro "${text}" (known: @every <duration>, ${Object.keys(MACROS).join(', ')})`,
    );
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5)
    throw new ScheduleError(
      `"${text}" has ${parts.length} field${parts.length === 1 ? '' : 's'}; a cron expression has 5 (minute hour day-of-month month day-of-week), e.g. "0 2 * * *"`,
    );
  const [minute, hour, dom, month, dow] = parts.map((p, i) => field(p, i)) as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  return {
    kind: 'cron',
    text,
    minute,
    hour,
    dom,
    month,
    dow,
    domAny: parts[2] === '*',
    dowAny: parts[4] === '*',
  };
}

function dayMatches(s: Extract<Schedule, { kind: 'cron' }>, d: Date): boolean {
  const dom = s.dom.has(d.getUTCDate());
  const dow = s.dow.has(d.getUTCDay());
  if (s.domAny && s.dowAny) return true;
  if (s.domAny) return dow;
  if (s.dowAny) return dom;
  return dom || dow;
}

/**
 * The first time strictly after `after` at which the schedule is due. For `@every` the times are
 * `anchor + k * interval` (the anchor is the agent's first start, so restarts keep the rhythm).
 */
export function nextRun(s: Schedule, after: number, anchor = 0): number {
  if (s.kind === 'every') {
    const k = Math.floor((after - anchor) / s.everyMs) + 1;
    return anchor + k * s.everyMs;
  }
  const d = new Date(Math.floor(after / 60_000) * 60_000 + 60_000);
  // Five years of minutes is the bound: 30 Feb never comes, and must not loop forever.
  const limit = after + 5 * 366 * 86_400_000;
  while (d.getTime() <= limit) {
    if (!s.month.has(d.getUTCMonth() + 1)) {
      d.setUTCMonth(d.getUTCMonth() + 1, 1);
      d.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!dayMatches(s, d)) {
      d.setUTCDate(d.getUTCDate() + 1);
      d.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!s.hour.has(d.getUTCHours())) {
      d.setUTCHours(d.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!s.minute.has(d.getUTCMinutes())) {
      d.setUTCMinutes(d.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    return d.getTime();
  }
  throw new ScheduleError(`"${s.text}" is never due (no such date)`);
}

/** The latest due time at or before `at`, if any within the last five years (for missed runs). */
export function previousRun(s: Schedule, at: number, anchor = 0): number | undefined {
  if (s.kind === 'every') {
    if (at < anchor) return undefined;
    return anchor + Math.floor((at - anchor) / s.everyMs) * s.everyMs;
  }
  // Walk forward from a day back, then further back if needed: schedules are at least daily in practice.
  for (const back of [86_400_000 * 2, 86_400_000 * 40, 86_400_000 * 400, 86_400_000 * 366 * 5]) {
    let t = nextRun(s, at - back);
    if (t > at) continue;
    let last = t;
    while (t <= at) {
      last = t;
      t = nextRun(s, t);
    }
    return last;
  }
  return undefined;
}
