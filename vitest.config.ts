import { defineConfig } from 'vitest/config';

// Two projects so live kernel tests are easy to select (`--project live`);
// CI runs both. Live tests attach real bpftrace and build namespaces, so they
// run one file at a time to keep namespaces and nft counters independent.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.live.test.ts', 'test/**/*.es.test.ts'],
        },
      },
      {
        test: {
          name: 'live',
          include: ['test/**/*.live.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'es',
          include: ['test/**/*.es.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
