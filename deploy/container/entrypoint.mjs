#!/usr/bin/env node
// The container's entrypoint: for `run`, check the runtime gave the container
// what it needs (preflight.mjs) and say in one line what is missing (exit 3,
// as droptrace's own environment errors); then the CLI itself, in this same
// process, so SIGTERM from the kubelet or podman reaches droptrace directly.
import { preflight } from './preflight.mjs';

if (process.argv[2] === 'run' && process.env.DROPTRACE_PREFLIGHT !== 'off') {
  const missing = preflight();
  if (missing.length > 0) {
    process.stderr.write(`droptrace: cannot start: missing ${missing.join('; ')}\n`);
    process.exit(3);
  }
}
await import('../../bin/droptrace.js');
