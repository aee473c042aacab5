import type { Metadata } from 'next';
import Link from 'next/link';
import type { ReactNode } from 'react';
import { NextIntlClientProvider } from 'next-intl';
import { getLocale, getTranslations } from 'next-intl/server';

import { LocaleSwitcher } from '@/components/locale-switcher';

import './globals.css';

export async function generateMetadata(): Promise<Metadata> {
  const t = await getTranslations('Common');
  return { title: t('appName'), description: t('tagline') };
}

export default async function RootLayout({ children }: { children: ReactNode }) {
  const locale = await getLocale();
  const t = await getTranslations('Common');
  return (
    <html lang={locale}>
      <body>
        <NextIntlClientProvider>
          <header className="site-header">
            <Link href="/" className="brand">
              {t('appName')}
            </Link>
            <span className="tagline">{t('tagline')}</span>
            <LocaleSwitcher />
          </header>
          <main className="site-main">{children}</main>
        </NextIntlClientProvider>
      </body>
    </html>
  );
}
