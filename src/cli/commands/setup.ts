// Placeholder until the 'setup' command lands in this branch; replaced, not shipped.
import type { Argv } from 'yargs';
import { UsageError } from '../../errors.js';

export function builder(y: Argv) {
  return y;
}

export async function handler(): Promise<void> {
  throw new UsageError('droptrace setup is not built yet in this checkout');
}
