/**
 * Files airlock writes for the user (the servers file, a host's config, its own records) are
 * written whole or not at all: a host that reads its config while airlock writes it must never
 * see half a file.
 */
import { rename, stat, writeFile } from 'node:fs/promises';

/** Write `text` to `file` through a temporary file and a rename, keeping the file's mode (0600 for a new one). */
export async function writeAtomic(file: string, text: string | Buffer): Promise<void> {
  const mode = await stat(file).then((s) => s.mode & 0o777, () => 0o600);
  const temporary = `${file}.airlock-${process.pid}.tmp`;
  await writeFile(temporary, text, { mode });
  await rename(temporary, file);
}
