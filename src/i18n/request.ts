import { cookies, headers } from 'next/headers';
import { getRequestConfig } from 'next-intl/server';

import { isLocale, LOCALE_COOKIE, localeFromAcceptLanguage } from './locales';

// The language a user chose is kept in a cookie; a first visit follows the browser's Accept-Language.
export default getRequestConfig(async () => {
  const chosen = (await cookies()).get(LOCALE_COOKIE)?.value;
  const locale = isLocale(chosen) ? chosen : localeFromAcceptLanguage((await headers()).get('accept-language'));
  const messages = (await import(`../messages/${locale}.json`)) as { default: Record<string, unknown> };
  return { locale, messages: messages.default };
});
