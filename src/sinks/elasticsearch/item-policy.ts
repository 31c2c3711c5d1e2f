// What a bulk status means for a record (the policy of Elastic's own Beats):
//   2xx acked · 409 duplicate (a resend of something already stored) ·
//   429 and 5xx retried · 413 split the request · other 4xx dead-lettered.
export type ItemOutcome = 'acked' | 'duplicate' | 'retry' | 'dead-letter';

export function itemOutcome(status: number): ItemOutcome {
  if (status >= 200 && status < 300) return 'acked';
  if (status === 409) return 'duplicate';
  if (status === 429 || status >= 500) return 'retry';
  return 'dead-letter';
}

export type RequestOutcome = 'items' | 'split' | 'retry' | 'dead-letter';

/** A status of the whole `_bulk` request (not of one item). */
export function requestOutcome(status: number): RequestOutcome {
  if (status >= 200 && status < 300) return 'items';
  if (status === 413) return 'split';
  // 401/403 mid-run (a key rotated or revoked), 404/408 from a proxy that is
  // restarting: worth retrying with backoff, never worth dropping records for.
  if (status === 429 || status >= 500 || status === 401 || status === 403 || status === 404 || status === 408) return 'retry';
  return 'dead-letter';
}
