/**
 * Tells what an OLE compound file (the container of legacy .xls workbooks and of password-protected
 * .xlsx packages) contains, from its first bytes only. Uses no Node API, so that the server's format
 * check and the browser's pre-upload check share it.
 *
 * Compound File Binary layout: a 512-byte header, then sectors of
 * 2^(sector shift) bytes. Sector n starts at byte (n + 1) * sector size. The directory is a chain of
 * sectors of 128-byte entries, and the file allocation table (FAT) links each sector to the next.
 */

export const OLE_SIGNATURE: readonly number[] = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/**
 * Content of an OLE container. `encryptedPackage` is an encrypted OOXML workbook, which has the
 * streams EncryptionInfo and EncryptedPackage. `biffWorkbook` is a legacy .xls, which has a Workbook
 * stream (BIFF8) or a Book stream (BIFF5). `unknown` means the deciding directory entries lie past
 * the given bytes.
 */
export type OleContent = 'encryptedPackage' | 'biffWorkbook' | 'unknown';

const HEADER_BYTES = 512;
const DIRECTORY_ENTRY_BYTES = 128;
const SECTOR_SHIFT_OFFSET = 0x1e;
const FIRST_DIRECTORY_SECTOR_OFFSET = 0x30;
/** The header lists the first 109 FAT sectors (the DIFAT) from this offset. */
const HEADER_DIFAT_OFFSET = 0x4c;
const HEADER_DIFAT_ENTRIES = 109;
/** Sector numbers from 0xFFFFFFFA up mark the end of a chain or unused sectors. */
const MAX_REGULAR_SECTOR = 0xfffffff9;
const STREAM_OBJECT = 2;
/** Directory sectors followed at most; a loop in a damaged FAT stops here. */
const MAX_DIRECTORY_SECTORS = 64;

const ENCRYPTION_STREAMS = new Set(['EncryptionInfo', 'EncryptedPackage']);
const WORKBOOK_STREAMS = new Set(['Workbook', 'Book']);

function startsWith(bytes: Uint8Array, signature: readonly number[]): boolean {
  return signature.every((byte, index) => bytes[index] === byte);
}

/** Reads the stream names of one directory sector; the name is UTF-16LE with its length in bytes at 0x40. */
function streamNames(view: DataView, sectorStart: number, sectorBytes: number): string[] {
  const names: string[] = [];
  for (let entry = sectorStart; entry + DIRECTORY_ENTRY_BYTES <= sectorStart + sectorBytes; entry += DIRECTORY_ENTRY_BYTES) {
    if (view.getUint8(entry + 0x42) !== STREAM_OBJECT) continue;
    const nameBytes = Math.min(view.getUint16(entry + 0x40, true), 64);
    let name = '';
    for (let offset = 0; offset + 2 <= nameBytes - 2; offset += 2) name += String.fromCharCode(view.getUint16(entry + offset, true));
    names.push(name);
  }
  return names;
}

/** Classifies an OLE container from its first bytes, following the directory chain as far as those bytes reach. */
export function classifyOleContainer(head: Uint8Array): OleContent {
  if (head.length < HEADER_BYTES || !startsWith(head, OLE_SIGNATURE)) return 'unknown';
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const sectorShift = view.getUint16(SECTOR_SHIFT_OFFSET, true);
  if (sectorShift !== 9 && sectorShift !== 12) return 'unknown';
  const sectorBytes = 2 ** sectorShift;
  const fatEntriesPerSector = sectorBytes / 4;
  const sectorStart = (sector: number): number => (sector + 1) * sectorBytes;

  /** Returns the sector after `sector` in its chain, or undefined when the FAT entry for it lies past `head`. */
  const nextSector = (sector: number): number | undefined => {
    const fatIndex = Math.floor(sector / fatEntriesPerSector);
    if (fatIndex >= HEADER_DIFAT_ENTRIES) return undefined;
    const fatSector = view.getUint32(HEADER_DIFAT_OFFSET + fatIndex * 4, true);
    if (fatSector > MAX_REGULAR_SECTOR) return undefined;
    const position = sectorStart(fatSector) + (sector % fatEntriesPerSector) * 4;
    return position + 4 <= head.length ? view.getUint32(position, true) : undefined;
  };

  let workbookSeen = false;
  let sector: number | undefined = view.getUint32(FIRST_DIRECTORY_SECTOR_OFFSET, true);
  for (let visited = 0; visited < MAX_DIRECTORY_SECTORS && sector !== undefined && sector <= MAX_REGULAR_SECTOR; visited += 1) {
    if (sectorStart(sector) + sectorBytes > head.length) return 'unknown';
    const names = streamNames(view, sectorStart(sector), sectorBytes);
    // An encrypted package may also carry other streams, so the encryption streams decide first.
    if (names.some((name) => ENCRYPTION_STREAMS.has(name))) return 'encryptedPackage';
    if (names.some((name) => WORKBOOK_STREAMS.has(name))) workbookSeen = true;
    sector = nextSector(sector);
    // The chain ends with a sector number above MAX_REGULAR_SECTOR; undefined means it left `head`.
    if (sector === undefined) return workbookSeen ? 'biffWorkbook' : 'unknown';
  }
  return workbookSeen ? 'biffWorkbook' : 'unknown';
}
