import createNextIntlPlugin from 'next-intl/plugin';

const withNextIntl = createNextIntlPlugin('./src/i18n/request.ts');

/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  // Native and Node-only modules stay outside the bundle and load from node_modules at run time.
  serverExternalPackages: ['better-sqlite3', 'pino', 'pino-pretty', 'proper-lockfile'],
  poweredByHeader: false,
  // The build checks the app's own sources; tests and scripts are checked by `npm run typecheck`.
  typescript: { tsconfigPath: 'tsconfig.next.json' },
};

export default withNextIntl(nextConfig);
