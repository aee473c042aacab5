'use client';

import { useTranslations } from 'next-intl';
import { useId } from 'react';

import { SETTING_LIMITS, type UploadManager, type UploadSettings } from './manager';

/** The concurrency settings: parts in flight per file and files at a time, kept in this browser. */
export function UploadSettingsPanel({ settings, manager }: { settings: UploadSettings; manager: UploadManager }) {
  const t = useTranslations('Uploader');
  const partsId = useId();
  const filesId = useId();

  const update = (key: keyof UploadSettings, raw: string): void => {
    const value = Number.parseInt(raw, 10);
    if (Number.isInteger(value)) manager.setSettings({ ...settings, [key]: value });
  };

  return (
    <details className="upload-settings">
      <summary>{t('settings')}</summary>
      <div className="field-row">
        <label htmlFor={partsId}>{t('partsInFlight')}</label>
        <input
          id={partsId}
          type="number"
          min={SETTING_LIMITS.partsInFlight.min}
          max={SETTING_LIMITS.partsInFlight.max}
          value={settings.partsInFlight}
          onChange={(event) => update('partsInFlight', event.target.value)}
        />
      </div>
      <div className="field-row">
        <label htmlFor={filesId}>{t('filesInFlight')}</label>
        <input
          id={filesId}
          type="number"
          min={SETTING_LIMITS.filesInFlight.min}
          max={SETTING_LIMITS.filesInFlight.max}
          value={settings.filesInFlight}
          onChange={(event) => update('filesInFlight', event.target.value)}
        />
      </div>
      <p className="hint">{t('settingsHint')}</p>
    </details>
  );
}
