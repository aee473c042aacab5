import { sql } from 'drizzle-orm';

import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** Liveness and readiness: the database answers a query. */
export function GET(): Response {
  const { db } = getRuntime();
  db.get(sql`select 1`);
  return Response.json({ status: 'ok' });
}
