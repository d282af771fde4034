import { expect } from 'vitest';
import { AirlockError } from '../../src/errors.js';

/** Run `fn`, expect it to throw an AirlockError, and return that error for closer checks. */
export function thrownAirlockError(fn: () => unknown): AirlockError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AirlockError);
    return error as AirlockError;
  }
  throw new Error('expected an AirlockError, nothing was thrown');
}

/** Await `promise`, expect it to reject with an AirlockError, and return that error. */
export async function rejectedAirlockError(promise: Promise<unknown>): Promise<AirlockError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AirlockError);
  return error as AirlockError;
}
