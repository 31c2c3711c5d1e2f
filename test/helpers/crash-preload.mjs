// Loaded with `node --import` into the real CLI by the live last-resort test:
// once the file named by DROPTRACE_TEST_CRASH_FILE exists, throws an exception
// nobody catches (what a bug would do). Nothing in droptrace knows about it.
import { existsSync } from 'node:fs';

const file = process.env.DROPTRACE_TEST_CRASH_FILE;
if (file) {
  const t = setInterval(() => {
    if (!existsSync(file)) return;
    clearInterval(t);
    throw new Error('injected crash (test/helpers/crash-preload.mjs)');
  }, 50);
  t.unref();
}
