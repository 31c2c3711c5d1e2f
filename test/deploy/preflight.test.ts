// The container entrypoint's preflight (deploy/container/preflight.mjs) on
// fake /proc and /sys trees: each missing capability, mount or namespace is
// named, and a complete set passes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error plain ESM module without types (it runs in the image as is)
import { preflight, mountPoints, REQUIRED_CAPS, INIT_PID_NS_INO } from '../../deploy/container/preflight.mjs';

const ALL = Object.values(REQUIRED_CAPS as Record<string, number>).reduce((m, b) => m | (1n << BigInt(b)), 0n);

describe('container preflight', () => {
  let root: string;
  const proc = () => join(root, 'proc');
  const sys = () => join(root, 'sys');

  function setup(o: { capEff?: bigint; pidNs?: number; netNs?: number; hostNetNs?: number; netnsMount?: boolean; btf?: boolean; tracefs?: boolean } = {}) {
    mkdirSync(join(proc(), 'self', 'ns'), { recursive: true });
    mkdirSync(join(proc(), '2', 'ns'), { recursive: true });
    writeFileSync(join(proc(), 'self', 'status'), `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${(o.capEff ?? ALL).toString(16).padStart(16, '0')}\n`);
    symlinkSync(`pid:[${o.pidNs ?? INIT_PID_NS_INO}]`, join(proc(), 'self', 'ns', 'pid'));
    symlinkSync(`net:[${o.netNs ?? 4026531833}]`, join(proc(), 'self', 'ns', 'net'));
    symlinkSync(`net:[${o.hostNetNs ?? 4026531833}]`, join(proc(), '2', 'ns', 'net'));
    const netns = '1581 1571 0:26 /netns /run/netns rw,nosuid,nodev,noexec master:11 - tmpfs tmpfs rw';
    writeFileSync(join(proc(), 'self', 'mountinfo'), `1571 1300 0:125 / / ro,relatime - overlay overlay rw\n${o.netnsMount === false ? '' : netns + '\n'}`);
    if (o.btf !== false) {
      mkdirSync(join(sys(), 'kernel', 'btf'), { recursive: true });
      writeFileSync(join(sys(), 'kernel', 'btf', 'vmlinux'), '');
    }
    mkdirSync(join(sys(), 'kernel', 'tracing', 'events'), { recursive: true });
    if (o.tracefs !== false) mkdirSync(join(sys(), 'kernel', 'tracing', 'events', 'skb'));
  }
  const run = (writable = [root]) => preflight({ procRoot: proc(), sysRoot: sys(), runRoot: '/run', writable }) as string[];

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'droptrace-preflight-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('passes with every capability, mount and host namespace', () => {
    setup();
    expect(run()).toEqual([]);
  });

  it('names exactly the missing capabilities', () => {
    setup({ capEff: ALL & ~(1n << 39n) & ~(1n << 34n) });
    expect(run()).toEqual([expect.stringMatching(/^capabilities CAP_SYSLOG, CAP_BPF \(/)]);
  });

  it('names missing BTF and tracefs', () => {
    setup({ btf: false, tracefs: false });
    expect(run()).toEqual([expect.stringMatching(/^\/sys\/kernel\/btf\/vmlinux/), expect.stringMatching(/^\/sys\/kernel\/tracing/)]);
  });

  it('names a container PID namespace, else a container network namespace', () => {
    setup({ pidNs: 4026532500 });
    expect(run()).toEqual([expect.stringMatching(/host PID namespace/)]);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root);
    setup({ netNs: 4026532600 });
    expect(run()).toEqual([expect.stringMatching(/host network namespace/)]);
  });

  it('names an unmounted /run/netns and a directory it cannot write', () => {
    setup({ netnsMount: false });
    expect(run([root, join(root, 'missing')])).toEqual([expect.stringMatching(/^\/run\/netns \(/), `a writable ${join(root, 'missing')}`]);
  });

  it('decodes octal escapes in mountinfo paths', () => {
    expect(mountPoints('1 2 0:1 / /run/net\\040ns rw - tmpfs tmpfs rw\n').has('/run/net ns')).toBe(true);
  });
});
