/**
 * A log-linear latency histogram in the spirit of HdrHistogram: 64 sub-buckets per power of two,
 * so every recorded value is kept within about 1.6 % of itself, in constant memory.
 * Values are microseconds.
 */
const SUB = 64;

/** A histogram's count and its percentiles, max and mean in milliseconds. */
export interface HistogramSummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export class Histogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  private sum = 0;

  private static index(us: number): number {
    const v = Math.max(1, us);
    const e = Math.floor(Math.log2(v));
    const sub = Math.min(SUB - 1, Math.floor((v / 2 ** e - 1) * SUB));
    return e * SUB + sub;
  }

  /** The highest value that falls into bucket `i`. */
  private static upper(i: number): number {
    const e = Math.floor(i / SUB);
    const sub = i % SUB;
    return 2 ** e * (1 + (sub + 1) / SUB);
  }

  record(us: number): void {
    const i = Histogram.index(us);
    this.counts.set(i, (this.counts.get(i) ?? 0) + 1);
    this.count += 1;
    this.sum += us;
    if (us < this.min) this.min = us;
    if (us > this.max) this.max = us;
  }

  merge(other: Histogram): void {
    for (const [i, c] of other.counts) this.counts.set(i, (this.counts.get(i) ?? 0) + c);
    this.count += other.count;
    this.sum += other.sum;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
  }

  /** A plain form that survives JSON (a worker process hands its histogram to the parent). */
  toJSON(): { counts: [number, number][]; count: number; min: number | null; max: number; sum: number } {
    const min = Number.isFinite(this.min) ? this.min : null;
    return { counts: [...this.counts], count: this.count, min, max: this.max, sum: this.sum };
  }

  static fromJSON(o: ReturnType<Histogram['toJSON']>): Histogram {
    const h = new Histogram();
    for (const [i, c] of o.counts) h.counts.set(i, c);
    h.count = o.count;
    h.min = o.min ?? Number.POSITIVE_INFINITY;
    h.max = o.max;
    h.sum = o.sum;
    return h;
  }

  get mean(): number {
    return this.count ? this.sum / this.count : 0;
  }

  /** The value below which `p` percent of the recorded values fall (0 < p <= 100). */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (const i of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(i)!;
      if (seen >= rank) return Math.min(Histogram.upper(i), this.max);
    }
    return this.max;
  }

  summary(): HistogramSummary {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: this.count,
      p50: ms(this.percentile(50)),
      p90: ms(this.percentile(90)),
      p99: ms(this.percentile(99)),
      p999: ms(this.percentile(99.9)),
      max: ms(this.max),
      mean: ms(this.mean),
    };
  }
}
