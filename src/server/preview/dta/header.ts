import { ByteCursor, readRange, type ByteSource } from './bytes';
import { malformed } from './failure';
import { readLegacyHeader } from './header-legacy';
import { readTaggedHeader } from './header-tagged';
import { LEGACY_VERSIONS, type DtaHeader } from './layout';

export type { ByteSpan, DtaHeader, VariableText } from './layout';

const TAGGED_MAGIC = '<stata_dta>';

/**
 * Reads the header and descriptors of a .dta file of any supported format. Only the text fields of
 * the first `textColumns` variables are read, so a very wide file costs little to preview.
 */
export async function readDtaHeader(source: ByteSource, textColumns: number): Promise<DtaHeader> {
  if (source.sizeBytes < 4) throw malformed(`the file has only ${source.sizeBytes} bytes, fewer than any Stata header.`);

  const head = await readRange(source, 0, Math.min(source.sizeBytes, TAGGED_MAGIC.length), 'the file signature');
  if (head.toString('latin1') === TAGGED_MAGIC) return readTaggedHeader(source, textColumns);

  const cursor = new ByteCursor(head, true);
  const version = cursor.uint8('the format version');
  const byteOrder = cursor.uint8('the byte order');
  if ((LEGACY_VERSIONS as readonly number[]).includes(version) && (byteOrder === 1 || byteOrder === 2)) {
    return readLegacyHeader(source, version, byteOrder === 2, textColumns);
  }
  throw malformed(`it does not start with a Stata header (the first bytes are ${head.subarray(0, 4).toString('hex')}); it is not a .dta file or it is damaged.`, {
    signature: head.subarray(0, 4).toString('hex'),
  });
}
