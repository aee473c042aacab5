import { getTranslations } from 'next-intl/server';

import { HomeView } from '@/components/home/home-view';

export default async function HomePage() {
  const t = await getTranslations('Home');
  return (
    <>
      <h1>{t('heading')}</h1>
      <p className="lead">{t('intro')}</p>
      <HomeView />
    </>
  );
}
