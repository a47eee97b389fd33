/**
 * The bigints 0 to 4095, made once and shared: revisions and sequences are bigints in the ports,
 * and a bigint is 24 bytes of heap wherever it is kept; most streams stay short, so most revisions
 * and sequences are small. A store or a read model that keeps one keeps a shared one instead.
 */
const SMALL: readonly bigint[] = Array.from({ length: 4096 }, (_, i) => BigInt(i));

/** `BigInt(n)` for a non-negative integer, shared when small. */
export const bigintOf = (n: number): bigint => (n < 4096 ? SMALL[n]! : BigInt(n));

/** `revision + 1n` (an aggregate's sequence after the event at `revision`), shared when small. */
export const nextOf = (revision: bigint): bigint => (revision < 4095n ? SMALL[Number(revision) + 1]! : revision + 1n);
