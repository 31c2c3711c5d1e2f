// The rules, in the order they claim evidence: corrections of misleading
// reasons first (conntrack behind NETFILTER_DROP, listen overflow behind
// NO_SOCKET, ACK loss behind duplicates), then causes named by the kernel's
// reasons, then counter-only losses, storms, leftovers; noise is claimed
// first so it never hides in another finding, and is ranked last.
import type { Rule } from '../context.js';
import { noise } from './noise.js';
import { conntrackFull, conntrackClash, firewallRule } from './netfilter.js';
import { listenOverflow, noListener } from './listen.js';
import { tcpMemory, receiveBuffer } from './socket.js';
import { reversePath, noRoute, neighbour, mtu } from './l3.js';
import { qdiscOverflow, nicDrops, cpuBacklog } from './device.js';
import { paws, ackStorm, checksum } from './tcp-state.js';
import { pathLoss, tcpEcho } from './path.js';
import { byReason, counterOnly, counterStorm, incomplete } from './generic.js';

export const RULES: readonly Rule[] = [
  noise,
  conntrackFull, conntrackClash, firewallRule,
  listenOverflow, noListener,
  tcpMemory, receiveBuffer,
  reversePath, noRoute, neighbour, mtu,
  qdiscOverflow, cpuBacklog, nicDrops,
  paws, ackStorm, checksum,
  tcpEcho, pathLoss,
  byReason, counterOnly, counterStorm, incomplete,
];
