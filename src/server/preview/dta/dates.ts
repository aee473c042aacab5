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
 * Date-times carry no time zone, as in Stata, so no "Z" is appended. The old `%d` notation of
 * formats before 114 is `%td`. Non-integer values count the whole units they contain, as Stata's
 * display does. Values whose year does not fit in four digits (0 to 9999) stay numbers.
 * NOTE: business calendars (%tb) need the calendar file that defined them, so their values stay
 * numbers.
 */

export type DateKind = 'tc' | 'tC' | 'td' | 'tw' | 'tm' | 'tq' | 'th' | 'ty';

/** Returns the kind of date or time a display format shows, or null for other formats. */
export function dateKindOf(format: string): DateKind | null {
  const match = /^%-?(t[cCdwmqhy]|d)/.exec(format);
  if (!match) return null;
  const kind = match[1];
  return kind === 'd' ? 'td' : ((kind ?? null) as DateKind | null);
}

/** The column type a date kind belongs to. */
export function columnTypeOf(kind: DateKind): 'date' | 'datetime' {
  return kind === 'tc' || kind === 'tC' ? 'datetime' : 'date';
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

function isoTime(date: Date, secondOverride?: number): string {
  const seconds = secondOverride ?? date.getUTCSeconds();
  return `${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(seconds, 2)}.${pad(date.getUTCMilliseconds(), 3)}`;
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

function renderClock(milliseconds: number, leapSecond: boolean): string | null {
  const date = new Date(STATA_EPOCH_MS + Math.floor(milliseconds));
  if (Number.isNaN(date.getTime()) || !inRange(date.getUTCFullYear())) return null;
  return `${isoDate(date)}T${isoTime(date, leapSecond ? 60 : undefined)}`;
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
      return renderClock(value, false);
    case 'tC': {
      const { clock, inLeapSecond } = leapClockToClock(value);
      return renderClock(clock, inLeapSecond);
    }
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
