'use client';

import { useFormatter, useLocale } from 'next-intl';
import { useCallback } from 'react';

/** Decimal (SI) units, named as Intl.NumberFormat names them. */
const SIZE_UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const;
const SIZE_STEP = 1000;

/** Returns a formatter of byte counts in the UI's locale: "53.7 kB" in English, "53.7千字节" in Chinese. */
export function useFormatSize(): (bytes: number) => string {
  const format = useFormatter();
  return useCallback(
    (bytes: number) => {
      let value = bytes;
      let unitIndex = 0;
      while (value >= SIZE_STEP && unitIndex < SIZE_UNITS.length - 1) {
        value /= SIZE_STEP;
        unitIndex += 1;
      }
      return format.number(value, {
        style: 'unit',
        unit: SIZE_UNITS[unitIndex],
        unitDisplay: 'short',
        maximumFractionDigits: unitIndex === 0 ? 0 : 1,
      });
    },
    [format],
  );
}

/** Returns a formatter of an exact byte count: "53,703 bytes", "53,703字节". */
export function useFormatExactBytes(): (bytes: number) => string {
  const format = useFormatter();
  return useCallback((bytes: number) => format.number(bytes, { style: 'unit', unit: 'byte', unitDisplay: 'long' }), [format]);
}

/**
 * Returns a formatter of ISO 8601 times in the browser's time zone, not the server's zone that
 * next-intl would use by default.
 */
export function useFormatTime(): (iso: string) => string {
  const format = useFormatter();
  return useCallback(
    (iso: string) =>
      format.dateTime(new Date(iso), {
        dateStyle: 'medium',
        timeStyle: 'short',
        timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      }),
    [format],
  );
}

/**
 * Returns a formatter of a duration in whole seconds, in the largest two units: "1 hr, 5 min" in
 * English, "1小时5分钟" in Chinese. Uses Intl.DurationFormat where the browser has it.
 */
export function useFormatDuration(): (seconds: number) => string {
  const format = useFormatter();
  const locale = useLocale();
  return useCallback(
    (totalSeconds: number) => {
      const seconds = Math.max(0, Math.round(totalSeconds));
      const hours = Math.floor(seconds / 3600);
      const minutes = Math.floor((seconds % 3600) / 60);
      const rest = seconds % 60;
      const parts: [number, 'hour' | 'minute' | 'second'][] =
        hours > 0 ? [[hours, 'hour'], [minutes, 'minute']] : minutes > 0 ? [[minutes, 'minute'], [rest, 'second']] : [[rest, 'second']];
      const shown = parts.filter(([value], index) => index === 0 || value > 0);
      const DurationFormat = (Intl as unknown as { DurationFormat?: new (locale: string, options: object) => { format: (duration: object) => string } }).DurationFormat;
      if (DurationFormat !== undefined) {
        return new DurationFormat(locale, { style: 'narrow' }).format(Object.fromEntries(shown.map(([value, unit]) => [`${unit}s`, value])));
      }
      return format.list(shown.map(([value, unit]) => format.number(value, { style: 'unit', unit, unitDisplay: 'narrow' })), { type: 'unit', style: 'narrow' });
    },
    [format, locale],
  );
}
