/**
 * airlock's version, read from package.json (the package script writes it in as a literal, since
 * the bundle ships no package.json beside its files). Its own module, so the shim can know it
 * without loading the CLI.
 */
import { createRequire } from 'node:module';

export const version: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
