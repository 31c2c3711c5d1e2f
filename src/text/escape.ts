// Names that come from the kernel (interface names can be any bytes but '/',
// ':' and whitespace) or from users must not drive the terminal: escape C0 and
// C1 controls, DEL, and Unicode bidi/format controls that reorder or hide text
// (Trojan Source, CVE-2021-42574), as visible \xNN / \u{NNNN} sequences.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb\\]/gu;

export function escapeForTerminal(s: string): string {
  return s.replace(UNSAFE, (ch) => {
    if (ch === '\\') return '\\\\';
    const cp = ch.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
  });
}
