import type { Argv } from 'yargs';
export function builder(y: Argv) { return y; }
export async function handler(_a: Record<string, unknown>): Promise<void> {}
