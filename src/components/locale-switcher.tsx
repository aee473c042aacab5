'use client';

import { useRouter } from 'next/navigation';
import { useLocale, useTranslations } from 'next-intl';
import { useTransition } from 'react';

import { LOCALE_COOKIE, LOCALES, type Locale } from '@/i18n/locales';

/** The chosen language is remembered for a year. */
const LOCALE_COOKIE_MAX_AGE_SECONDS = 365 * 24 * 60 * 60;

function rememberLocale(locale: Locale): void {
  document.cookie = `${LOCALE_COOKIE}=${locale}; path=/; max-age=${LOCALE_COOKIE_MAX_AGE_SECONDS}; samesite=lax`;
}

const LOCALE_MESSAGE_KEYS = { en: 'en', 'zh-CN': 'zhCN' } as const satisfies Record<Locale, string>;

/**
 * Switches the UI language: stores the choice in the NEXT_LOCALE cookie and re-renders the server
 * components, so the page changes language without a reload and uploads in progress keep going.
 */
export function LocaleSwitcher() {
  const t = useTranslations('LocaleSwitcher');
  const locale = useLocale();
  const router = useRouter();
  const [isPending, startTransition] = useTransition();

  const choose = (next: Locale): void => {
    rememberLocale(next);
    startTransition(() => router.refresh());
  };

  return (
    <div className="locale-switcher" role="group" aria-label={t('label')} aria-busy={isPending}>
      {LOCALES.map((option) => (
        <button
          key={option}
          type="button"
          lang={option}
          className="button-link"
          aria-pressed={option === locale}
          disabled={isPending}
          onClick={() => choose(option)}
        >
          {t(LOCALE_MESSAGE_KEYS[option])}
        </button>
      ))}
    </div>
  );
}
