/**
 * The agent's log: one line per event on stderr, JSON lines (`--log-format json`, for a log
 * collector) or text. Fields are plain values; callers never pass a token or a key.
 */
export type LogFormat = 'json' | 'text';
type Fields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

export function makeLogger(
  format: LogFormat,
  write: (line: string) => void,
  opts: { debug?: boolean; now?: () => number } = {},
): Logger {
  const now = opts.now ?? Date.now;
  const emit = (level: string, msg: string, fields: Fields = {}) => {
    if (level === 'debug' && !opts.debug) return;
    const time = new Date(now()).toISOString();
    const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    if (format === 'json') write(`${JSON.stringify({ time, level, msg, ...clean })}\n`);
    else {
      const kv = Object.entries(clean)
        .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`)
        .join(' ');
      write(`${time} ${level.toUpperCase().padEnd(5)} ${msg}${kv ? ` ${kv}` : ''}\n`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}
