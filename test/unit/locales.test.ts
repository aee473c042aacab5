import assert from 'node:assert/strict';
import { test } from 'node:test';

import { localeFromAcceptLanguage } from '../../src/i18n/locales';

test('Accept-Language picks the UI language', () => {
  const cases: [string | null, string][] = [
    [null, 'en'],
    ['', 'en'],
    ['zh-CN,zh;q=0.9,en;q=0.8', 'zh-CN'],
    ['zh-TW', 'zh-CN'],
    ['zh', 'zh-CN'],
    ['en-GB,en;q=0.9', 'en'],
    ['de-DE,en;q=0.5,zh;q=0.9', 'zh-CN'],
    ['fr-FR,de;q=0.8', 'en'],
    ['zh;q=0,en', 'en'],
  ];
  for (const [header, expected] of cases) {
    assert.equal(localeFromAcceptLanguage(header), expected, `for ${JSON.stringify(header)}`);
  }
});
