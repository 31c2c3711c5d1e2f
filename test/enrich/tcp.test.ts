import { describe, it, expect } from 'vitest';
import { tcpStateName, caStateName, retransmitType, TCP_CA_OPEN, TCP_CA_DISORDER, TCP_CA_CWR, TCP_CA_RECOVERY, TCP_CA_LOSS } from '../../src/enrich/tcp.js';

describe('tcpStateName (include/net/tcp_states.h numbering)', () => {
  it.each([
    [1, 'ESTABLISHED'], [2, 'SYN_SENT'], [3, 'SYN_RECV'], [4, 'FIN_WAIT1'], [5, 'FIN_WAIT2'], [6, 'TIME_WAIT'],
    [7, 'CLOSE'], [8, 'CLOSE_WAIT'], [9, 'LAST_ACK'], [10, 'LISTEN'], [11, 'CLOSING'], [12, 'NEW_SYN_RECV'],
    [13, 'BOUND_INACTIVE'],
  ])('%i → %s', (n, name) => {
    expect(tcpStateName(n)).toBe(name);
  });
  it('unknown numbers are spelled out', () => {
    expect(tcpStateName(14)).toBe('UNKNOWN_14');
    expect(tcpStateName(255)).toBe('UNKNOWN_255');
  });
});

describe('caStateName (include/uapi/linux/tcp.h)', () => {
  it('names and constants agree', () => {
    expect([TCP_CA_OPEN, TCP_CA_DISORDER, TCP_CA_CWR, TCP_CA_RECOVERY, TCP_CA_LOSS]).toEqual([0, 1, 2, 3, 4]);
    expect(caStateName(0)).toBe('Open');
    expect(caStateName(1)).toBe('Disorder');
    expect(caStateName(2)).toBe('CWR');
    expect(caStateName(3)).toBe('Recovery');
    expect(caStateName(4)).toBe('Loss');
    expect(caStateName(5)).toBe('UNKNOWN_5');
  });
});

describe('retransmitType', () => {
  const ESTABLISHED = 1, SYN_SENT = 2, SYN_RECV = 3, FIN_WAIT1 = 4;
  const ICSK_TIME_RETRANS = 1, ICSK_TIME_LOSS_PROBE = 5;

  it('a SYN retransmit in SYN_SENT, whatever the other state', () => {
    expect(retransmitType(SYN_SENT, TCP_CA_LOSS, ICSK_TIME_RETRANS)).toBe('syn');
    expect(retransmitType(SYN_SENT, TCP_CA_OPEN, ICSK_TIME_LOSS_PROBE)).toBe('syn');
  });
  it('a full socket in SYN_RECV retransmits its SYN-ACK', () => {
    expect(retransmitType(SYN_RECV, TCP_CA_LOSS, ICSK_TIME_RETRANS)).toBe('synack');
  });
  it('the loss-probe timer pending means TLP only while no loss is known (Open, CWR)', () => {
    expect(retransmitType(ESTABLISHED, TCP_CA_OPEN, ICSK_TIME_LOSS_PROBE)).toBe('tlp');
    expect(retransmitType(ESTABLISHED, TCP_CA_CWR, ICSK_TIME_LOSS_PROBE)).toBe('tlp');
  });
  it('regression: ACK processing retransmits in Recovery/Loss before re-arming the TLP timer — fast/rto, not TLP', () => {
    // Seen live: 43 of 76 retransmits labelled tlp against TCPLossProbes 3.
    expect(retransmitType(ESTABLISHED, TCP_CA_RECOVERY, ICSK_TIME_LOSS_PROBE)).toBe('fast');
    expect(retransmitType(ESTABLISHED, TCP_CA_LOSS, ICSK_TIME_LOSS_PROBE)).toBe('rto');
  });
  it('CA Loss is an RTO', () => {
    expect(retransmitType(ESTABLISHED, TCP_CA_LOSS, ICSK_TIME_RETRANS)).toBe('rto');
    expect(retransmitType(FIN_WAIT1, TCP_CA_LOSS, 0)).toBe('rto');
  });
  it('Recovery, Disorder and CWR are fast retransmits', () => {
    expect(retransmitType(ESTABLISHED, TCP_CA_RECOVERY, ICSK_TIME_RETRANS)).toBe('fast');
    expect(retransmitType(ESTABLISHED, TCP_CA_DISORDER, 0)).toBe('fast');
    expect(retransmitType(ESTABLISHED, TCP_CA_CWR, 0)).toBe('fast');
  });
  it('Open without a loss-probe timer, or an unknown CA state, is unknown', () => {
    expect(retransmitType(ESTABLISHED, TCP_CA_OPEN, ICSK_TIME_RETRANS)).toBe('unknown');
    expect(retransmitType(ESTABLISHED, 9, 0)).toBe('unknown');
  });
});
