// What the droptrace container needs from its runtime (the DaemonSet in
// deploy/kubernetes, or `podman run` as in deploy/container/README.md), checked
// before `droptrace run` starts, so a missing mount or capability is one line
// naming it instead of a bpftrace load failure or silently missing names.
// Pure: every path is injectable (tests use fake /proc and /sys trees).
import { existsSync, readFileSync, readdirSync, readlinkSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';

/** Capabilities of droptrace.service (deploy/systemd/README.md says why each). */
export const REQUIRED_CAPS = { CAP_SYS_PTRACE: 19, CAP_SYS_ADMIN: 21, CAP_SYSLOG: 34, CAP_PERFMON: 38, CAP_BPF: 39 };
/** The initial PID namespace's inode is fixed by the kernel (PROC_PID_INIT_INO). */
export const INIT_PID_NS_INO = 0xeffffffc;

const nonEmptyDir = (p) => {
  try {
    return readdirSync(p).length > 0;
  } catch {
    return false;
  }
};
const nsInode = (p) => {
  try {
    const m = /\[(\d+)\]$/.exec(readlinkSync(p));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
};

/** Mount points from /proc/self/mountinfo (field 5, octal escapes decoded). */
export function mountPoints(mountinfo) {
  return new Set(mountinfo.split('\n').filter(Boolean).map((l) => l.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)))));
}

/**
 * Everything missing, each as a short phrase with the fix; empty when the
 * container can run droptrace.
 */
export function preflight({ procRoot = '/proc', sysRoot = '/sys', runRoot = '/run', writable = ['/var/lib/droptrace', '/var/log/droptrace', '/run/droptrace'] } = {}) {
  const missing = [];
  let capEff = 0n;
  try {
    capEff = BigInt('0x' + /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync(join(procRoot, 'self/status'), 'utf8'))[1]);
  } catch { /* unreadable: every capability counts as missing */ }
  const caps = Object.entries(REQUIRED_CAPS).filter(([, bit]) => !(capEff & (1n << BigInt(bit)))).map(([name]) => name);
  if (caps.length) missing.push(`capabilities ${caps.join(', ')} (securityContext.capabilities.add / podman --cap-add)`);
  if (!existsSync(join(sysRoot, 'kernel/btf/vmlinux'))) missing.push('/sys/kernel/btf/vmlinux (mount the host\'s /sys/kernel/btf)');
  if (!nonEmptyDir(join(sysRoot, 'kernel/tracing/events'))) missing.push('/sys/kernel/tracing (mount the host\'s tracefs)');
  if (nsInode(join(procRoot, 'self/ns/pid')) !== INIT_PID_NS_INO) missing.push('the host PID namespace (hostPID: true / podman --pid=host)');
  // PID 2 is kthreadd in the host PID namespace: kernel threads live in the
  // initial network namespace (PID 1 may be unreadable, as on this CI host).
  else if (nsInode(join(procRoot, 'self/ns/net')) !== nsInode(join(procRoot, '2/ns/net'))) missing.push('the host network namespace (hostNetwork: true / podman --network=host)');
  let mounts = new Set();
  try {
    mounts = mountPoints(readFileSync(join(procRoot, 'self/mountinfo'), 'utf8'));
  } catch { /* no mountinfo: reported below */ }
  if (!mounts.has(join(runRoot, 'netns'))) missing.push(`${join(runRoot, 'netns')} (mount the host's /run/netns with propagation HostToContainer / rslave)`);
  for (const d of writable) {
    try {
      accessSync(d, constants.W_OK);
    } catch {
      missing.push(`a writable ${d}`);
    }
  }
  return missing;
}
