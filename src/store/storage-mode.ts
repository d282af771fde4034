/**
 * The `--storage` values, apart from the stores themselves: the CLI parses them at start-up
 * without loading the keychain binding.
 */
export const storageModes = ['auto', 'keychain', 'file'] as const;
export type StorageMode = (typeof storageModes)[number];

/** True for a valid `--storage` value. */
export function isStorageMode(value: string): value is StorageMode {
  return (storageModes as readonly string[]).includes(value);
}
