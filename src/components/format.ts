'use client';

import { useFormatter } from 'next-intl';
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
