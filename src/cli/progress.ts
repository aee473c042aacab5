import cliProgress from 'cli-progress';

import { formatBytes, formatDuration } from './format';

export type ProgressMode = 'bar' | 'lines' | 'json' | 'none';

export interface FileStart {
  path: string;
  filename: string;
  sizeBytes: number;
  strategy: 'direct' | 'multipart';
  partCount: number;
  /** Parts the server already holds from an earlier run. */
  storedParts: number;
  /** Bytes of those parts. */
  storedBytes: number;
  uploadSessionId: string;
}

/**
 * Reports an upload's progress on stderr: a redrawn bar with speed and time left on a terminal,
 * plain lines at most every few seconds otherwise, JSON lines for scripts, or nothing.
 */
export interface ProgressReporter {
  fileStarted(start: FileStart): void;
  /** Bytes handed to the connection; negative when a failed attempt's bytes no longer count. */
  bytesSent(delta: number): void;
  partStored(part: { partNumber: number; sizeBytes: number }): void;
  retrying(info: { what: string; attempt: number; delayMs: number; reason: string }): void;
  fileFinished(info: { datasetKey: string; sha256: string }): void;
  note(text: string): void;
  stop(): void;
}

/** Window over which the speed is averaged. */
const SPEED_WINDOW_MS = 10_000;
/** Lines mode prints at most one progress line per this interval. */
const LINE_INTERVAL_MS = 5_000;

/** Tracks bytes over time to give a recent speed and the time left. */
class Throughput {
  private samples: { atMs: number; bytes: number }[] = [];
  bytes = 0;

  add(delta: number): void {
    this.bytes += delta;
    const now = Date.now();
    this.samples.push({ atMs: now, bytes: this.bytes });
    while (this.samples.length > 2 && (this.samples[0]?.atMs ?? now) < now - SPEED_WINDOW_MS) this.samples.shift();
  }

  reset(): void {
    this.samples = [];
    this.bytes = 0;
  }

  /** Bytes per second over the window; 0 until two samples exist. */
  speed(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.atMs <= first.atMs) return 0;
    return Math.max(0, (last.bytes - first.bytes) / ((last.atMs - first.atMs) / 1000));
  }
}

class FileProgress {
  readonly throughput = new Throughput();
  storedParts = 0;
  /** Bytes the server held when the file started plus the bytes sent since. */
  done = 0;

  constructor(readonly start: FileStart) {
    this.storedParts = start.storedParts;
    this.done = start.storedBytes;
  }

  secondsLeft(): number {
    const speed = this.throughput.speed();
    return speed > 0 ? (this.start.sizeBytes - this.done) / speed : Number.NaN;
  }

  percent(): number {
    return this.start.sizeBytes === 0 ? 100 : Math.min(100, Math.floor((this.done / this.start.sizeBytes) * 100));
  }
}

class BarReporter implements ProgressReporter {
  private bar: cliProgress.SingleBar | null = null;
  private file: FileProgress | null = null;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  private payload(): Record<string, string> {
    const file = this.file;
    if (!file) return {};
    return {
      filename: file.start.filename,
      done: formatBytes(file.done),
      size: formatBytes(file.start.sizeBytes),
      speed: `${formatBytes(Math.round(file.throughput.speed()))}/s`,
      left: formatDuration(file.secondsLeft()),
    };
  }

  fileStarted(start: FileStart): void {
    this.stop();
    this.file = new FileProgress(start);
    this.bar = new cliProgress.SingleBar(
      {
        stream: this.stream,
        format: '{filename} |{bar}| {percentage}% | {done} of {size} | {speed} | {left} left',
        hideCursor: true,
        barsize: 30,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(Math.max(1, start.sizeBytes), start.storedBytes, this.payload());
  }

  bytesSent(delta: number): void {
    if (!this.file || !this.bar) return;
    this.file.throughput.add(delta);
    this.file.done += delta;
    this.bar.update(this.file.done, this.payload());
  }

  partStored(): void {
    if (this.file) this.file.storedParts += 1;
  }

  retrying(info: { what: string; attempt: number; delayMs: number; reason: string }): void {
    this.note(`Retrying ${info.what} in ${(info.delayMs / 1000).toFixed(1)} s (attempt ${info.attempt + 1}): ${info.reason}`);
  }

  fileFinished(): void {
    if (this.file && this.bar) this.bar.update(this.file.start.sizeBytes, this.payload());
    this.stop();
  }

  note(text: string): void {
    // Clear the bar's line, print the note, and let the next redraw put the bar below it.
    this.stream.write(`\r\x1b[2K${text}\n`);
    if (this.file && this.bar) this.bar.update(this.file.done, this.payload());
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

class LineReporter implements ProgressReporter {
  private file: FileProgress | null = null;
  private lastLineMs = 0;

  constructor(private readonly stream: NodeJS.WritableStream) {}

  private line(text: string): void {
    this.stream.write(`${text}\n`);
  }

  fileStarted(start: FileStart): void {
    this.file = new FileProgress(start);
    this.lastLineMs = Date.now();
    const resumed = start.storedParts > 0 ? `, resuming with ${start.storedParts} of ${start.partCount} parts already stored` : '';
    this.line(`${start.filename}: uploading ${formatBytes(start.sizeBytes)} in ${start.partCount} part(s)${resumed}`);
  }

  bytesSent(delta: number): void {
    if (!this.file) return;
    this.file.throughput.add(delta);
    this.file.done += delta;
    if (Date.now() - this.lastLineMs >= LINE_INTERVAL_MS) {
      this.lastLineMs = Date.now();
      const file = this.file;
      this.line(
        `${file.start.filename}: ${file.percent()}% (${formatBytes(file.done)} of ${formatBytes(file.start.sizeBytes)}), ` +
          `${formatBytes(Math.round(file.throughput.speed()))}/s, ${formatDuration(file.secondsLeft())} left`,
      );
    }
  }

  partStored(): void {
    if (this.file) this.file.storedParts += 1;
  }

  retrying(info: { what: string; attempt: number; delayMs: number; reason: string }): void {
    this.line(`Retrying ${info.what} in ${(info.delayMs / 1000).toFixed(1)} s (attempt ${info.attempt + 1}): ${info.reason}`);
  }

  fileFinished(info: { datasetKey: string; sha256: string }): void {
    if (this.file) this.line(`${this.file.start.filename}: finalized as ${info.datasetKey} (sha256 ${info.sha256})`);
    this.file = null;
  }

  note(text: string): void {
    this.line(text);
  }

  stop(): void {}
}

/** One JSON object per line and event, for scripts and tests that follow an upload. */
class JsonReporter implements ProgressReporter {
  private file: FileProgress | null = null;

  constructor(private readonly stream: NodeJS.WritableStream) {}

  private emit(event: Record<string, unknown>): void {
    this.stream.write(`${JSON.stringify(event)}\n`);
  }

  fileStarted(start: FileStart): void {
    this.file = new FileProgress(start);
    this.emit({ event: 'file.started', ...start });
  }

  bytesSent(delta: number): void {
    if (!this.file) return;
    this.file.throughput.add(delta);
    this.file.done += delta;
  }

  partStored(part: { partNumber: number; sizeBytes: number }): void {
    if (!this.file) return;
    this.file.storedParts += 1;
    this.emit({
      event: 'part.stored',
      filename: this.file.start.filename,
      uploadSessionId: this.file.start.uploadSessionId,
      partNumber: part.partNumber,
      sizeBytes: part.sizeBytes,
      storedParts: this.file.storedParts,
      partCount: this.file.start.partCount,
      bytesPerSecond: Math.round(this.file.throughput.speed()),
    });
  }

  retrying(info: { what: string; attempt: number; delayMs: number; reason: string }): void {
    this.emit({ event: 'retry', ...info });
  }

  fileFinished(info: { datasetKey: string; sha256: string }): void {
    this.emit({ event: 'file.finalized', filename: this.file?.start.filename, ...info });
    this.file = null;
  }

  note(text: string): void {
    this.emit({ event: 'note', message: text });
  }

  stop(): void {}
}

class SilentReporter implements ProgressReporter {
  fileStarted(): void {}
  bytesSent(): void {}
  partStored(): void {}
  retrying(): void {}
  fileFinished(): void {}
  note(): void {}
  stop(): void {}
}

/** `auto` draws a bar when stderr is a terminal and prints plain lines otherwise. */
export function createReporter(mode: ProgressMode | 'auto', stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  const resolved = mode === 'auto' ? (stream.isTTY ? 'bar' : 'lines') : mode;
  if (resolved === 'bar') return new BarReporter(stream);
  if (resolved === 'lines') return new LineReporter(stream);
  if (resolved === 'json') return new JsonReporter(stream);
  return new SilentReporter();
}
