import { defineConfig } from 'vitest/config';

// Projects, so each kind of test is easy to select (`--project unit`, ...);
// `npm test` (and CI) runs them all:
//   unit          no root, no kernel: parsers, enrichers, filters, sinks.
//   live-system   real bpftrace (the system's, 0.17 on Debian 12) attached to
//                 this kernel, in namespaces each test builds.
//   live-current  the same files under the private current bpftrace
//                 (scripts/install-bpftrace-current, 0.23.x).
//   es            against a real Elasticsearch (test/helpers/es-global-setup.ts
//                 starts one through scripts/elasticsearch unless ES_URL is set).
// Live projects run one file at a time and one project after another
// (groupOrder): they share the kernel, nft counters and the CPU.
const CURRENT_BPFTRACE = process.env.DROPTRACE_BPFTRACE_CURRENT ?? '/opt/droptrace/bpftrace-current';

const live = (name: string, groupOrder: number, env: Record<string, string>) => ({
  test: {
    name,
    include: ['test/**/*.live.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    sequence: { groupOrder },
    env,
  },
});

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.live.test.ts', 'test/**/*.es.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      // Pinned: without it droptrace would pick the newest (the private 0.23).
      live('live-system', 1, { DROPTRACE_BPFTRACE: process.env.DROPTRACE_BPFTRACE_SYSTEM ?? '/usr/bin/bpftrace' }),
      live('live-current', 2, { DROPTRACE_BPFTRACE: CURRENT_BPFTRACE }),
      {
        test: {
          name: 'es',
          include: ['test/**/*.es.test.ts'],
          globalSetup: ['test/helpers/es-global-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
