// Order findings for a reader: real causes by severity then impact; the
// "could not check" note after them; noise last (one collapsed finding).
import { severityRank, type Finding } from './finding.js';

export function rankFindings(fs: Finding[]): Finding[] {
  const tier = (f: Finding) => (f.noise ? 2 : f.cause === 'diagnosis-incomplete' ? 1 : 0);
  return [...fs].sort((a, b) => tier(a) - tier(b) || severityRank(b.severity) - severityRank(a.severity) || b.impact - a.impact || a.cause.localeCompare(b.cause));
}
