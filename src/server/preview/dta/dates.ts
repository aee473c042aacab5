/**
 * Stata date and time values, rendered as text. Stata stores them as numbers counted from
 * 1 January 1960 (Stata's `help datetime`):
 *
 *   format  unit                                rendering          example
 *   %tc     milliseconds, no leap seconds        ISO date-time      1960-01-01T00:00:01.000
 *   %tC     milliseconds, with leap seconds      ISO date-time      2016-12-31T23:59:60.000
 *   %td     days                                 ISO date           2009-01-31
 *   %tw     weeks (52 a year, week 52 longer)    <year>w<week>      2009w5
 *   %tm     months                               <year>m<month>     2009m1
 *   %tq     quarters                             <year>q<quarter>   2009q1
 *   %th     half-years                           <year>h<half>      2009h1
 *   %ty     years (the value is the year)        <year>             2009
 *
 * A %tc or %tC format whose display codes show only a time of day (`%tcHH:MM:SS`) renders as
 * HH:MM:SS, or HH:MM:SS.sss when the codes show fractions of a second (.s, .ss or .sss), as text in
 * a string column. One whose codes show only a date (`%tcCCYY-NN-DD`) renders as an ISO date in a
 * date column. Other %tc and %tC formats render as the full date-time.
 * Date-times carry no time zone, as in Stata, so no "Z" is appended. The old `%d` notation of
 * formats before 114 is `%td`. Non-integer values count the whole units they contain, as Stata's
 * display does. Values whose year does not fit in four digits (0 to 9999) stay numbers.
 * NOTE: business calendars (%tb) need the calendar file that defined them, so their values stay
 * numbers.
 */

/**
 * Kind of date or time that a display format shows. `tc-date` and `tc-time` are %tc values under a
 * format that shows only the date or only the time of day. `tc-time-ms` is a time of day with
 * fractions of a second. The `tC-` kinds are the same for %tC.
 */
export type DateKind =
  | 'tc'
  | 'tC'
  | 'tc-date'
  | 'tC-date'
  | 'tc-time'
  | 'tC-time'
  | 'tc-time-ms'
  | 'tC-time-ms'
  | 'td'
  | 'tw'
  | 'tm'
  | 'tq'
  | 'th'
  | 'ty';

/**
 * Codes of the details part of a datetime display format, from Stata's `help datetime display
 * formats`. `h` is the half-year and `q` the quarter; the four hour codes are two letters long.
 */
const DATE_CODES = ['DAYNAME', 'Dayname', 'Month', 'month', 'JJJ', 'jjj', 'Mon', 'mon', 'Day', 'day', 'CC', 'cc', 'YY', 'yy', 'NN', 'nn', 'DD', 'dd', 'Da', 'da', 'WW', 'ww', 'h', 'q'];
const TIME_CODES = ['A.M.', 'a.m.', '.sss', '.ss', '.s', 'HH', 'Hh', 'hH', 'hh', 'MM', 'mm', 'SS', 'ss', 'AM', 'am'];
const FRACTION_CODES = new Set(['.sss', '.ss', '.s']);
/** Characters that display as themselves (`_` as a space, `+` as nothing). */
const LITERAL_CODES = ['.', ',', ':', '-', '_', '/', '\\', '+'];
/** All codes, longest first, so that `Month` is read before `Mon` and `.sss` before `.`. */
const DISPLAY_CODES = [...DATE_CODES, ...TIME_CODES, ...LITERAL_CODES].sort((a, b) => b.length - a.length);
const DATE_CODE_SET = new Set(DATE_CODES);
const TIME_CODE_SET = new Set(TIME_CODES);

/**
 * Classifies the details of a %tc or %tC format: `date` or `time` when its codes show only one of
 * them, and `time-ms` for a time with fractions of a second. Returns null when they show both or
 * neither, or contain a code this reader does not know, so the value renders as the full date-time.
 */
function clockDisplayPart(details: string): 'date' | 'time' | 'time-ms' | null {
  let hasDate = false;
  let hasTime = false;
  let hasFraction = false;
  for (let at = 0; at < details.length; ) {
    // `!c` displays the character c.
    if (details[at] === '!') {
      at += 2;
      continue;
    }
    const code = DISPLAY_CODES.find((candidate) => details.startsWith(candidate, at));
    if (code === undefined) return null;
    if (DATE_CODE_SET.has(code)) hasDate = true;
    if (TIME_CODE_SET.has(code)) hasTime = true;
    if (FRACTION_CODES.has(code)) hasFraction = true;
    at += code.length;
  }
  if (hasDate && !hasTime) return 'date';
  if (hasTime && !hasDate) return hasFraction ? 'time-ms' : 'time';
  return null;
}

/** Returns the kind of date or time a display format shows, or null for other formats. */
export function dateKindOf(format: string): DateKind | null {
  const match = /^%-?(t[cCdwmqhy]|d)/.exec(format);
  if (!match) return null;
  const kind = match[1];
  if (kind === 'd') return 'td';
  if (kind === 'tc' || kind === 'tC') {
    const part = clockDisplayPart(format.slice(match[0].length));
    return part === null ? kind : `${kind}-${part}`;
  }
  return (kind ?? null) as DateKind | null;
}

/** Returns the column type of a date kind. A time of day is text, as in the spreadsheet readers. */
export function columnTypeOf(kind: DateKind): 'date' | 'datetime' | 'string' {
  switch (kind) {
    case 'tc':
    case 'tC':
      return 'datetime';
    case 'tc-time':
    case 'tC-time':
    case 'tc-time-ms':
    case 'tC-time-ms':
      return 'string';
    default:
      return 'date';
  }
}

const MS_PER_DAY = 86_400_000;
/** 1960-01-01T00:00:00 in Unix milliseconds. */
const STATA_EPOCH_MS = Date.UTC(1960, 0, 1);
const FIRST_YEAR = 0;
const LAST_YEAR = 9999;

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function inRange(year: number): boolean {
  return year >= FIRST_YEAR && year <= LAST_YEAR;
}

function isoDate(date: Date): string {
  return `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}`;
}

function isoTime(date: Date, secondOverride?: number, withMilliseconds = true): string {
  const seconds = secondOverride ?? date.getUTCSeconds();
  const time = `${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(seconds, 2)}`;
  return withMilliseconds ? `${time}.${pad(date.getUTCMilliseconds(), 3)}` : time;
}

/**
 * Days (UTC, 1 January of the following year 0h) after which IERS inserted a leap second, from
 * IERS Bulletin C: 27 leap seconds, 1972-06-30 to 2016-12-31. Stata's %tC counts them.
 */
const LEAP_SECOND_DAYS = [
  '1972-06-30', '1972-12-31', '1973-12-31', '1974-12-31', '1975-12-31', '1976-12-31', '1977-12-31',
  '1978-12-31', '1979-12-31', '1981-06-30', '1982-06-30', '1983-06-30', '1985-06-30', '1987-12-31',
  '1989-12-31', '1990-12-31', '1992-06-30', '1993-06-30', '1994-06-30', '1995-12-31', '1997-06-30',
  '1998-12-31', '2005-12-31', '2008-12-31', '2012-06-30', '2015-06-30', '2016-12-31',
] as const;

/** %tc milliseconds of the midnight that ends each leap-second day. */
const LEAP_SECOND_ENDS_TC = LEAP_SECOND_DAYS.map((day) => Date.parse(`${day}T00:00:00Z`) + MS_PER_DAY - STATA_EPOCH_MS);

/**
 * Converts %tC milliseconds to %tc milliseconds. Returns the %tc value and, when the instant falls
 * inside a leap second, that it should print as second 60 of the minute before midnight.
 */
export function leapClockToClock(value: number): { clock: number; inLeapSecond: boolean } {
  let leapSecondsBefore = 0;
  for (const [index, end] of LEAP_SECOND_ENDS_TC.entries()) {
    // In %tC the leap second `index + 1` starts where %tc midnight is, shifted by the earlier ones.
    const leapStart = end + index * 1000;
    if (value < leapStart) break;
    if (value < leapStart + 1000) return { clock: end - 1000 + (value - leapStart), inLeapSecond: true };
    leapSecondsBefore = index + 1;
  }
  return { clock: value - leapSecondsBefore * 1000, inLeapSecond: false };
}

/** Part of a %tc or %tC value that is rendered. */
type ClockPart = 'datetime' | 'date' | 'time' | 'time-ms';

function renderClock(milliseconds: number, leapSecond: boolean, part: ClockPart): string | null {
  const date = new Date(STATA_EPOCH_MS + Math.floor(milliseconds));
  if (Number.isNaN(date.getTime()) || !inRange(date.getUTCFullYear())) return null;
  const second = leapSecond ? 60 : undefined;
  switch (part) {
    case 'datetime':
      return `${isoDate(date)}T${isoTime(date, second)}`;
    case 'date':
      return isoDate(date);
    case 'time':
      return isoTime(date, second, false);
    case 'time-ms':
      return isoTime(date, second);
  }
}

function renderLeapClock(value: number, part: ClockPart): string | null {
  const { clock, inLeapSecond } = leapClockToClock(value);
  return renderClock(clock, inLeapSecond, part);
}

function floorDiv(value: number, divisor: number): { quotient: number; remainder: number } {
  const quotient = Math.floor(value / divisor);
  return { quotient, remainder: value - quotient * divisor };
}

function renderPeriod(value: number, perYear: number, letter: string): string | null {
  const { quotient, remainder } = floorDiv(Math.floor(value), perYear);
  const year = 1960 + quotient;
  return inRange(year) ? `${year}${letter}${remainder + 1}` : null;
}

/** Renders a date or time value; returns null when the value is outside Stata's calendar. */
export function renderDate(kind: DateKind, value: number): string | null {
  switch (kind) {
    case 'tc':
      return renderClock(value, false, 'datetime');
    case 'tc-date':
      return renderClock(value, false, 'date');
    case 'tc-time':
      return renderClock(value, false, 'time');
    case 'tc-time-ms':
      return renderClock(value, false, 'time-ms');
    case 'tC':
      return renderLeapClock(value, 'datetime');
    case 'tC-date':
      return renderLeapClock(value, 'date');
    case 'tC-time':
      return renderLeapClock(value, 'time');
    case 'tC-time-ms':
      return renderLeapClock(value, 'time-ms');
    case 'td': {
      const date = new Date(STATA_EPOCH_MS + Math.floor(value) * MS_PER_DAY);
      return Number.isNaN(date.getTime()) || !inRange(date.getUTCFullYear()) ? null : isoDate(date);
    }
    case 'tw':
      return renderPeriod(value, 52, 'w');
    case 'tm':
      return renderPeriod(value, 12, 'm');
    case 'tq':
      return renderPeriod(value, 4, 'q');
    case 'th':
      return renderPeriod(value, 2, 'h');
    case 'ty': {
      const year = Math.floor(value);
      return inRange(year) ? String(year) : null;
    }
  }
}
