'use client';

import { useTranslations } from 'next-intl';
import { useEffect, useState } from 'react';

/** How long the button reads "Copied" after a copy. */
const COPIED_FEEDBACK_MS = 2000;

/** Copies `value` to the clipboard; `label` names what is copied, for screen readers. */
export function CopyButton({ value, label }: { value: string; label: string }) {
  const t = useTranslations('Common');
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');

  useEffect(() => {
    if (state === 'idle') return;
    const timer = setTimeout(() => setState('idle'), COPIED_FEEDBACK_MS);
    return () => clearTimeout(timer);
  }, [state]);

  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(value);
      setState('copied');
    } catch {
      // The Clipboard API needs a secure context and permission; the value stays visible to copy by hand.
      setState('failed');
    }
  };

  let feedback = '';
  if (state === 'copied') feedback = t('copied');
  if (state === 'failed') feedback = t('copyFailed');

  return (
    <>
      <button type="button" className="button-link copy-button" aria-label={label} title={label} onClick={() => void copy()}>
        {feedback || t('copy')}
      </button>
      <span className="visually-hidden" role="status">
        {feedback}
      </span>
    </>
  );
}
