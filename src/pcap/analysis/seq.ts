// TCP sequence arithmetic modulo 2^32 (RFC 793/1982): a is "after" b when
// the forward distance from b to a is below 2^31. Values are unsigned 32-bit.

export const add = (a: number, n: number) => (a + n) >>> 0;
export const gt = (a: number, b: number) => a !== b && ((a - b) >>> 0) < 0x80000000;
export const lt = (a: number, b: number) => gt(b, a);
export const ge = (a: number, b: number) => a === b || gt(a, b);
export const le = (a: number, b: number) => a === b || gt(b, a);
